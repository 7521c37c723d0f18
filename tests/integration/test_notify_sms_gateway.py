"""SMS for real (issue 21): a member who chose SMS gets it on the phone they registered, read
from a running registration service at send time, through the SMS gateway channel speaking
Alibaba Cloud's SendSms. The gateway here is a local HTTP server that checks every request as the
provider documents it (its own implementation of the signature, not the client's), and answers
as the provider would: accepted, throttled, failing, or refusing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
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
from tests.support.mailbox import Mailbox, running_mailbox
from tests.support.notify_events import samples
from tests.support.sms_gateway import KEY_ID, KEY_SECRET, SIGN_NAME, Gateway, running_gateway
from tests.support.stack import free_port
from tests.support.tokens import ADMIN

TEMPLATES = {"default": "SMS_100000001", "registration": "SMS_100000002", "transfer": "SMS_100000003"}
FAST = DeliveryPolicy(
    max_attempts=4, retry_base=timedelta(milliseconds=10), retry_cap=timedelta(milliseconds=50)
)


@pytest.fixture
def gateway() -> Iterator[str]:
    with running_gateway({code: {"title", "content"} for code in TEMPLATES.values()}) as url:
        yield url


@pytest.fixture(scope="module")
def database(test_databases) -> Iterator[Database]:
    """A notify database of its own: the dispatcher here claims every due delivery it holds."""
    db = Database(test_databases.url("notify", "-sms"), schema="notify_sms")
    migrate(db, MIGRATIONS)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with running_mailbox() as relay:
        yield relay


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
            rows = list(
                session.scalars(select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id))
            )
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
    worker.channels["email"] = SmtpChannel(
        "127.0.0.1", smtp[0], "nuanliu@test", timeout=2, local_hostname="localhost"
    )
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
