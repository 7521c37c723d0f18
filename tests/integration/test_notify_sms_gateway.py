"""SMS for real (issue 21): a member who chose SMS gets it on the phone they registered, read
from a running registration service at send time, through the SMS gateway channel speaking
Alibaba Cloud's SendSms. The gateway here is a local HTTP server that checks every request as the
provider documents it (its own implementation of the signature, not the client's), and answers
as the provider would: accepted, throttled, failing, or refusing."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from werkzeug.serving import make_server

from services.notify import consumer as notify_events
from services.notify.app import MIGRATIONS
from services.notify.channels.email import SmtpChannel
from services.notify.channels.inapp import InAppChannel
from services.notify.channels.sms import GatewaySmsProvider, SmsChannel
from services.notify.directory import RegistrationDirectory
from services.notify.dispatcher import Dispatcher
from services.notify.domain import DeliveryPolicy
from services.notify.models import Delivery, Preference
from services.registration.app import create_app as registration_app
from shared.db import Database, migrate, utcnow
from shared.events import make_envelope
from shared.orgs import ServiceClient, ServiceCredentials
from shared.settings import DEV_JWT_SECRET
from shared.sms import AliyunSmsClient, AliyunSmsConfig
from tests.support.builders import member_body, org_tree
from tests.support.notify_events import samples
from tests.support.stack import free_port
from tests.support.tokens import ADMIN

KEY_ID, KEY_SECRET, SIGN_NAME = "LTAI-test-key", "test-secret/with+odd=chars", "暖流"
TEMPLATES = {"default": "SMS_100000001", "registration": "SMS_100000002", "transfer": "SMS_100000003"}
FAST = DeliveryPolicy(max_attempts=4, retry_base=timedelta(milliseconds=10), retry_cap=timedelta(milliseconds=50))
REQUIRED = {
    "AccessKeyId", "Action", "Format", "PhoneNumbers", "RegionId", "SignName", "Signature", "SignatureMethod",
    "SignatureNonce", "SignatureVersion", "TemplateCode", "TemplateParam", "Timestamp", "Version",
}  # fmt: skip


def documented_encode(text: str) -> str:
    # As the provider's signature page says: URL-encode in UTF-8, then "+" → "%20", "*" → "%2A",
    # "%7E" → "~" (written out step by step, independent of the client's code).
    return quote(text, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def documented_signature(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(
        f"{documented_encode(k)}={documented_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    to_sign = method + "&" + documented_encode("/") + "&" + documented_encode(canonical)
    return base64.b64encode(hmac.new((KEY_SECRET + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class Gateway(BaseHTTPRequestHandler):
    """Checks each SendSms request; `script` lists the answers to give (then OK)."""

    accepted: list[dict[str, str]] = []
    refused: list[str] = []
    nonces: set[str] = set()
    script: list[tuple[int, str]] = []

    def log_message(self, *_args: object) -> None:
        pass

    def _answer(self, status: int, code: str) -> None:
        body = json.dumps({"Code": code, "Message": code, "RequestId": "r-1", "BizId": "b-1"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        problem = self._check(params)
        if problem:
            Gateway.refused.append(problem)
            return self._answer(400, problem)
        if Gateway.script:
            status, code = Gateway.script.pop(0)
            return self._answer(status, code)
        Gateway.accepted.append(params)
        return self._answer(200, "OK")

    def _check(self, params: dict[str, str]) -> str | None:
        if set(params) - {"OutId"} != REQUIRED:
            return f"MissingParameter {sorted(REQUIRED ^ (set(params) - {'OutId'}))}"
        expected = {
            "AccessKeyId": KEY_ID,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": "cn-hangzhou",
            "SignName": SIGN_NAME,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "Version": "2017-05-25",
        }
        wrong = [k for k, v in expected.items() if params[k] != v]
        if wrong:
            return f"InvalidParameter {wrong}"
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", params["Timestamp"]):
            return "InvalidTimeStamp.Format"
        sent = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - sent).total_seconds()) > 900:
            return "InvalidTimeStamp.Expired"
        if params["SignatureNonce"] in Gateway.nonces:
            return "SignatureNonceUsed"
        Gateway.nonces.add(params["SignatureNonce"])
        if params["Signature"] != documented_signature("POST", params):
            return "SignatureDoesNotMatch"
        if params["TemplateCode"] not in TEMPLATES.values():
            return "isv.SMS_TEMPLATE_ILLEGAL"
        if not re.fullmatch(r"1\d{10}", params["PhoneNumbers"]):
            return "isv.MOBILE_NUMBER_ILLEGAL"
        variables = json.loads(params["TemplateParam"])
        if set(variables) != {"title", "content"} or any(len(v) > 35 for v in variables.values()):
            return "isv.TEMPLATE_PARAMS_ILLEGAL"
        return None


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.accepted, Gateway.refused, Gateway.nonces, Gateway.script = [], [], set(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def database(test_databases) -> Iterator[Database]:
    """A notify database of its own: the dispatcher here claims every due delivery it holds."""
    db = Database(test_databases.url("notify", "-sms"), schema="notify_sms")
    migrate(db, MIGRATIONS)
    yield db
    db.dispose()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture(scope="module")
def registration(settings_for, migrated) -> Iterator[tuple[str, object]]:
    """The registration service on a real socket, and a test client to prepare its data."""
    migrated("registration")
    app = registration_app(settings_for("registration"))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", app.test_client()
    server.shutdown()


def registered_member(client: object) -> tuple[str, str, str]:
    """A member registered with a phone: (id, branch, phone)."""
    branch = org_tree(client, ADMIN)["branch"]
    body = member_body(branch)
    made = client.post("/api/v1/members", json=body, headers=ADMIN)  # type: ignore[attr-defined]
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"], branch, str(body["phone"])


def chooses_sms(database, member_id: str, branch: str, **extra: object) -> None:
    with database.transaction() as session:
        session.add(
            Preference(
                sub=member_id, role="member", org=branch, inapp=True, sms=True, locale="zh-CN",
                updated_at=utcnow(), **extra,
            )
        )  # fmt: skip


def dispatcher(database, gateway_url: str, registration_url: str) -> Dispatcher:
    client = AliyunSmsClient(AliyunSmsConfig(KEY_ID, KEY_SECRET, SIGN_NAME, gateway_url, timeout=2.0))
    directory = RegistrationDirectory(
        ServiceClient(registration_url, ServiceCredentials(DEV_JWT_SECRET, "notify"), timeout=2.0)
    )
    channels = {"inapp": InAppChannel(), "sms": SmsChannel(GatewaySmsProvider(client, TEMPLATES), directory)}
    return Dispatcher(database, channels, FAST)


def dues_event(member_id: str, branch: str):
    data, _ = samples()["registration.dues_recorded.v1"]
    return make_envelope(
        "registration.dues_recorded.v1", "test", "s", {**data, "member_id": member_id, "branch_code": branch}
    )


def settle(worker: Dispatcher, event_id: str, timeout: float = 15.0) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_once()
        with worker.database.reader() as session:
            rows = list(session.scalars(select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id)))
            session.expunge_all()
        outside = [d for d in rows if d.channel != "inapp"]
        if outside and all(d.status in ("sent", "dead") for d in outside):
            return outside
        time.sleep(0.02)
    raise AssertionError(f"not settled: {[(d.channel, d.status, d.last_error) for d in rows]}")


def test_a_members_sms_goes_signed_to_their_registered_phone(database, registration, gateway, caplog):
    registration_url, client = registration
    member_id, branch, phone = registered_member(client)
    chooses_sms(database, member_id, branch)
    envelope = dues_event(member_id, branch)
    notify_events.handle_event(database, envelope, FAST)
    (sms,) = settle(dispatcher(database, gateway, registration_url), envelope.id)
    assert (sms.status, sms.attempts, sms.address) == ("sent", 1, f"member:{member_id}")
    assert Gateway.refused == []
    (request,) = Gateway.accepted
    assert request["PhoneNumbers"] == phone and request["OutId"] == sms.id
    assert request["TemplateCode"] == TEMPLATES["registration"]
    assert json.loads(request["TemplateParam"])["title"].startswith("党费已登记")
    # The phone was used for the request only: not in notify's rows, not in its logs.
    with database.reader() as session:
        stored = session.scalars(select(Delivery.address).where(Delivery.event_id == envelope.id)).all()
    assert all(phone not in (address or "") for address in stored)
    assert phone not in caplog.text


def test_a_throttling_or_failing_gateway_is_retried_until_it_accepts(database, registration, gateway):
    registration_url, client = registration
    member_id, branch, phone = registered_member(client)
    chooses_sms(database, member_id, branch)
    Gateway.script = [(200, "isv.BUSINESS_LIMIT_CONTROL"), (500, "isp.SYSTEM_ERROR")]
    envelope = dues_event(member_id, branch)
    notify_events.handle_event(database, envelope, FAST)
    (sms,) = settle(dispatcher(database, gateway, registration_url), envelope.id)
    assert (sms.status, sms.attempts) == ("sent", 3)
    assert [r["PhoneNumbers"] for r in Gateway.accepted] == [phone]


def test_a_refused_message_is_not_retried_and_falls_back_to_email(database, registration, gateway, smtp):
    registration_url, client = registration
    member_id, branch, _ = registered_member(client)
    chooses_sms(database, member_id, branch, email=False, email_address="dangyuan@example.org")
    Gateway.script = [(200, "isv.MOBILE_NUMBER_ILLEGAL")]
    envelope = dues_event(member_id, branch)
    notify_events.handle_event(database, envelope, FAST)
    worker = dispatcher(database, gateway, registration_url)
    worker.channels["email"] = SmtpChannel("127.0.0.1", smtp[0], "nuanliu@test", timeout=2, local_hostname="localhost")
    sms, mail = settle(worker, envelope.id)
    assert (sms.status, sms.attempts, mail.channel, mail.status, mail.fallback_for) == (
        "dead", 1, "email", "sent", sms.id
    )  # fmt: skip
    assert "isv.MOBILE_NUMBER_ILLEGAL" in (sms.last_error or "") and Gateway.accepted == []
    assert any(m["Message-ID"] == f"<{mail.id}@nuanliu>" and "党费" in m["Subject"] for m in smtp[1].messages)


def test_registration_down_means_retrying_not_failing(database, registration, gateway):
    _, client = registration
    member_id, branch, _ = registered_member(client)
    chooses_sms(database, member_id, branch)
    envelope = dues_event(member_id, branch)
    notify_events.handle_event(database, envelope, FAST)
    worker = dispatcher(database, gateway, f"http://127.0.0.1:{free_port()}")  # nothing listens
    worker.run_once()
    with database.reader() as session:
        (status, error) = session.execute(
            select(Delivery.status, Delivery.last_error).where(
                Delivery.event_id == envelope.id, Delivery.channel == "sms"
            )
        ).one()
    assert status == "retrying" and "cannot be read now" in (error or "") and Gateway.accepted == []
