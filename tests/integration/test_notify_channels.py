"""Channel deliveries through the dispatcher: a real local SMTP server (aiosmtpd), a local HTTP
webhook server that answers, fails or hangs, and the SMS development provider."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from services.notify import consumer as notify_events
from services.notify import domain, queries, schemas
from services.notify.app import MIGRATIONS
from services.notify.channels.email import SmtpChannel
from services.notify.channels.inapp import InAppChannel
from services.notify.channels.sms import FileSmsProvider, SmsChannel
from services.notify.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel, signature
from services.notify.dispatcher import Dispatcher
from services.notify.models import Delivery, Preference
from services.notify.webhook_address import WebhookGuard, parse_networks
from shared.db import Database, migrate, new_id, utcnow
from shared.events import make_envelope
from tests.support.mailbox import Mailbox, running_mailbox
from tests.support.notify_events import samples
from tests.support.stack import free_port

SECRET = "test-webhook-secret"
LOOPBACK_ROBOTS = WebhookGuard(allow_http=True, allowed=parse_networks("127.0.0.0/8"))
FAST = domain.DeliveryPolicy(
    max_attempts=3, retry_base=timedelta(milliseconds=20), retry_cap=timedelta(milliseconds=50)
)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with running_mailbox() as relay:
        yield relay


class Robot(BaseHTTPRequestHandler):
    """A chat robot: `/ok` accepts, `/broken` answers 500, `/slow` answers after 1 s, `/gone` 404."""

    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Robot.received.append((self.path, dict(self.headers), body))
        if self.path == "/slow":
            time.sleep(1.0)
        status = {"/ok": 200, "/broken": 500, "/gone": 404}.get(self.path, 200)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errcode": 0}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def robot() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def database(test_databases) -> Iterator[Database]:
    """A notify database of its own: a dispatcher of a stack running in this session (tests/e2e)
    must not take these deliveries and send them with its own channel settings."""
    db = Database(test_databases.url("notify", "-channels"), schema="notify_channels")
    migrate(db, MIGRATIONS)
    yield db
    db.dispose()


@pytest.fixture
def sms_file(tmp_path: Path) -> Path:
    return tmp_path / "sms.log"


def dispatcher(database, smtp_port: int, sms_file: Path, webhook_timeout: float = 0.3) -> Dispatcher:
    return Dispatcher(
        database,
        {
            "inapp": InAppChannel(),
            "email": SmtpChannel(
                "127.0.0.1", smtp_port, "nuanliu@test", timeout=2, local_hostname="localhost"
            ),
            # The robot listens on loopback: allowed here as an operator would allow an internal one.
            "webhook": WebhookChannel(SECRET, timeout=webhook_timeout, guard=LOOPBACK_ROBOTS),
            "sms": SmsChannel(FileSmsProvider(sms_file)),
        },
        FAST,
    )


def person(database, role: str = "member", **fields: object) -> str:
    """A person with saved preferences (a member unless `role` says otherwise); returns their id."""
    sub = f"m-{new_id()}"
    channels = {"email": False, "sms": False, "webhook": False, **fields.pop("channels", {})}
    with database.transaction() as session:
        session.add(
            Preference(
                sub=sub,
                role=role,
                org="B",
                inapp=True,
                quiet_start=None,
                quiet_end=None,
                locale=fields.pop("locale", "zh-CN"),
                updated_at=utcnow(),
                **channels,
                **fields,
            )
        )
    return sub


def letter_for(database, member_id: str) -> str:
    data, _ = samples()["transfer.letter_issued.v1"]
    envelope = make_envelope("transfer.letter_issued.v1", "test", "s", {**data, "member_id": member_id})
    notify_events.handle_event(database, envelope, FAST)
    return envelope.id


def deliveries(database, event_id: str, person_id: str) -> list[Delivery]:
    with database.reader() as session:
        rows = list(
            session.scalars(
                select(Delivery)
                .where(Delivery.event_id == event_id, Delivery.person == person_id)
                .order_by(Delivery.id)
            )
        )
        session.expunge_all()  # keep the loaded values readable after the session ends
        return rows


def drain(worker: Dispatcher, event_id: str, person_id: str, timeout: float = 15.0) -> list[Delivery]:
    """Run dispatcher passes until this person's deliveries of the event are settled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_once()
        rows = deliveries(worker.database, event_id, person_id)
        if rows and all(d.status in ("sent", "dead") for d in rows):
            return rows
        time.sleep(0.02)
    raise AssertionError(
        f"not settled: {[(d.channel, d.status) for d in deliveries(worker.database, event_id, person_id)]}"
    )


def test_email_reaches_a_real_smtp_server(database, smtp, sms_file):
    port, mailbox = smtp
    member_id = person(database, channels={"email": True}, email_address="wang@example.org", locale="en")
    event_id = letter_for(database, member_id)
    (mail,) = drain(dispatcher(database, port, sms_file), event_id, member_id)
    assert (mail.channel, mail.status, mail.attempts) == ("email", "sent", 1)
    received = [m for m in mailbox.messages if m["Message-ID"] == f"<{mail.id}@nuanliu>"]
    assert len(received) == 1
    assert received[0]["To"] == "wang@example.org"
    assert "letter" in received[0]["Subject"].lower()  # the person's locale
    assert "JS-2026-0001" in received[0].get_content()


def test_smtp_down_means_retrying_with_backoff(database, sms_file):
    member_id = person(database, channels={"email": True}, email_address="li@example.org")
    event_id = letter_for(database, member_id)
    slow = domain.DeliveryPolicy(
        max_attempts=3, retry_base=timedelta(minutes=5), retry_cap=timedelta(hours=1)
    )
    worker = dispatcher(database, free_port(), sms_file)  # nothing listens there
    worker.policy = slow
    worker.run_once()
    (mail,) = deliveries(database, event_id, member_id)
    assert (mail.status, mail.attempts) == ("retrying", 1)
    assert "SMTP unavailable" in (mail.last_error or "")
    assert utcnow() + timedelta(minutes=2) < mail.next_attempt_at <= utcnow() + timedelta(minutes=5)


def test_webhook_is_signed_and_delivered(database, smtp, robot, sms_file):
    member_id = person(database, channels={"webhook": True}, webhook_url=f"{robot}/ok")
    event_id = letter_for(database, member_id)
    (hook,) = drain(dispatcher(database, smtp[0], sms_file), event_id, member_id)
    assert (hook.channel, hook.status, hook.attempts) == ("webhook", "sent", 1)
    path, headers, body = next(r for r in Robot.received if json.loads(r[2])["delivery_id"] == hook.id)
    assert path == "/ok"
    expected = signature(SECRET, headers[TIMESTAMP_HEADER], body)
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert "介绍信" in json.loads(body)["markdown"]["title"]


def test_webhook_500s_retry_then_fall_back_to_email(database, smtp, robot, sms_file):
    port, mailbox = smtp
    member_id = person(
        database, channels={"webhook": True}, webhook_url=f"{robot}/broken", email_address="zhao@example.org"
    )
    event_id = letter_for(database, member_id)
    hook, mail = drain(dispatcher(database, port, sms_file), event_id, member_id)
    assert (hook.channel, hook.status, hook.attempts) == ("webhook", "dead", 3)
    assert hook.last_error == "webhook answered 500"
    assert (mail.channel, mail.status, mail.fallback_for) == ("email", "sent", hook.id)
    assert any(m["Message-ID"] == f"<{mail.id}@nuanliu>" for m in mailbox.messages)
    hits = [r for r in Robot.received if json.loads(r[2])["delivery_id"] == hook.id]
    assert len(hits) == 3


def test_webhook_timeouts_retry_then_fall_back_to_sms(database, smtp, robot, sms_file):
    # Staff keep a phone in their preferences (a member's SMS goes to their registered phone:
    # test_notify_sms_gateway.py).
    member_id = person(
        database,
        "branch_secretary",
        channels={"webhook": True},
        webhook_url=f"{robot}/slow",
        phone="13700003333",
    )
    event_id = letter_for(database, member_id)
    hook, sms = drain(dispatcher(database, smtp[0], sms_file, webhook_timeout=0.2), event_id, member_id)
    assert (hook.status, hook.attempts) == ("dead", 3) and "timed out" in (hook.last_error or "")
    assert (sms.channel, sms.status, sms.fallback_for) == ("sms", "sent", hook.id)
    lines = [json.loads(line) for line in sms_file.read_text().splitlines()]
    assert any(
        line["to"] == "13700003333" and "介绍信" in line["text"] and line["ref"] == sms.id for line in lines
    )


def test_a_refusing_webhook_fails_at_once_and_without_fallback_is_dead(database, smtp, robot, sms_file):
    member_id = person(database, channels={"webhook": True}, webhook_url=f"{robot}/gone")
    event_id = letter_for(database, member_id)
    (hook,) = drain(dispatcher(database, smtp[0], sms_file), event_id, member_id)
    assert (hook.status, hook.attempts, hook.last_error) == ("dead", 1, "webhook refused with 404")


def test_the_delivery_listing_tells_the_whole_story(database, smtp, robot, sms_file):
    member_id = person(
        database, channels={"webhook": True}, webhook_url=f"{robot}/broken", email_address="q@example.org"
    )
    event_id = letter_for(database, member_id)
    drain(dispatcher(database, smtp[0], sms_file), event_id, member_id)
    listed = queries.list_deliveries(database, event_id, None, 50, None)["items"]
    everyone = schemas.DeliverySchema(many=True).dump(listed)  # as the API shows them
    items = [d for d in everyone if d["person"] in (member_id, f"member:{member_id}")]
    story = [(d["channel"], d["status"], d["attempts"], d["person"]) for d in items]
    assert story == [
        ("inapp", "sent", 1, f"member:{member_id}"),
        ("webhook", "dead", 3, member_id),
        ("email", "sent", 1, member_id),
    ]
    assert items[1]["last_error"] == "webhook answered 500" and items[2]["fallback_for"] == items[1]["id"]


def test_a_retry_that_would_fall_in_quiet_hours_waits_until_they_end(database, sms_file):
    member_id = person(database, channels={"email": True}, email_address="night@example.org")
    event_id = letter_for(database, member_id)
    # Quiet hours begin a minute from now (Asia/Shanghai is UTC+8) and last two hours.
    local = utcnow() + timedelta(hours=8)
    start, end = (
        (local + timedelta(minutes=1)).strftime("%H:%M"),
        (local + timedelta(hours=2)).strftime("%H:%M"),
    )
    with database.transaction() as session:
        preference = session.get(Preference, member_id)
        preference.quiet_start, preference.quiet_end = start, end
    worker = dispatcher(database, free_port(), sms_file)  # SMTP is down: the attempt fails
    worker.policy = domain.DeliveryPolicy(max_attempts=3, retry_base=timedelta(minutes=10))
    worker.run_once()
    (mail,) = deliveries(database, event_id, member_id)
    assert (mail.status, mail.attempts) == ("retrying", 1)
    assert mail.next_attempt_at >= utcnow() + timedelta(hours=1, minutes=55)  # not at +5..10 min
