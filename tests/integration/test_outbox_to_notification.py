"""Outbox → relay → RabbitMQ → consumer → inbox, on the real broker and database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pika
import pytest
from sqlalchemy import func, select

from services.notify import consumer as notify_events
from services.notify.models import Notification
from services.registration.models import outbox as registration_outbox
from shared.bus import Consumer, Publisher, Topology
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.db import new_id
from shared.events import make_envelope
from shared.relay import Relay
from tests.support.infra import AMQP_URL, delete_topology


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def checkin_data(branch: str) -> dict[str, object]:
    return {
        "checkin_id": new_id(),
        "member_id": new_id(),
        "member_name": "王芳",
        "branch_code": branch,
        "kind": "self",
        "occurred_at": "2026-11-01T08:00:00+00:00",
    }


def notifications_for(database, branch: str) -> int:
    with database.reader() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Notification).where(Notification.recipient == branch)
            )
            or 0
        )


@pytest.fixture
def notify_consumer(settings_for, migrated):
    database = migrated("notify")
    settings = settings_for("notify")
    consumer = Consumer(
        AMQP_URL,
        Topology(settings.broker_prefix),
        # A queue of its own: other tests run notify consumers on the same broker prefix.
        name="test-outbox-notify",
        bindings=["#"],
        handler=lambda envelope: notify_events.handle_event(database, envelope),
        delivery_limit=settings.consumer_delivery_limit,
    )
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    assert consumer.ready.wait(15)
    yield consumer
    consumer.stop()
    thread.join(10)


def add_checkins(database, branch: str, count: int) -> None:
    with database.transaction() as session:
        for _ in range(count):
            registration_outbox.add(session, MEMBER_CHECKED_IN, "m", checkin_data(branch))


def test_outbox_rows_become_notifications_once(settings_for, migrated, notify_consumer):
    registration = migrated("registration")
    branch = f"BR-{new_id()}"
    add_checkins(registration, branch, 5)
    relay = Relay(
        registration,
        registration_outbox,
        Publisher(AMQP_URL, Topology(settings_for("registration").broker_prefix)),
    )
    while relay.run_once():
        pass
    wait_until(lambda: notifications_for(migrated("notify"), branch) == 5, message="5 notifications")
    with registration.reader() as session:
        assert registration_outbox.pending_count(session) == 0


def test_a_duplicate_delivery_makes_one_notification(settings_for, migrated, notify_consumer):
    branch = f"BR-{new_id()}"
    envelope = make_envelope(MEMBER_CHECKED_IN, "registration", "m", checkin_data(branch))
    publisher = Publisher(AMQP_URL, Topology(settings_for("notify").broker_prefix))
    for _ in range(3):
        publisher.publish(envelope.type, envelope.id, envelope.to_json())
    publisher.close()
    wait_until(lambda: notify_consumer.handled >= 3, message="three deliveries handled")
    assert notifications_for(migrated("notify"), branch) == 1


def test_poison_goes_to_the_dead_letter_queue_and_flow_continues(settings_for, migrated):
    prefix = settings_for("notify").broker_prefix
    topology = Topology(prefix)
    calls: list[str] = []

    def handler(envelope):
        calls.append(envelope.data["branch_code"])
        if envelope.data["branch_code"] == "FAIL":
            raise RuntimeError("this handler always fails for FAIL")

    consumer = Consumer(
        AMQP_URL,
        topology,
        name="test-poison",
        bindings=[MEMBER_CHECKED_IN, "test.#"],
        handler=handler,
        delivery_limit=2,
    )
    consumer.declare()
    publisher = Publisher(AMQP_URL, topology)
    failing = make_envelope(MEMBER_CHECKED_IN, "registration", "m", checkin_data("FAIL"))
    good = make_envelope(MEMBER_CHECKED_IN, "registration", "m", checkin_data("GOOD"))
    publisher.publish(failing.type, failing.id, failing.to_json())
    publisher.publish("test.garbage", "garbage-1", b"{not json")
    publisher.publish(good.type, good.id, good.to_json())
    publisher.close()
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(lambda: "GOOD" in calls, message="the good message after the poison ones")
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = connection.channel()

        def dead_count() -> int:
            return channel.queue_declare(
                topology.dead_letter_queue("test-poison"), passive=True
            ).method.message_count

        wait_until(lambda: dead_count() == 2, message="two dead-lettered messages")
        connection.close()
        assert calls.count("FAIL") == 3  # first delivery plus two redeliveries, then dead-lettered
    finally:
        consumer.stop()
        thread.join(10)


def test_events_accepted_while_the_broker_is_unreachable_arrive_later(
    settings_for, migrated, notify_consumer
):
    registration = migrated("registration")
    prefix = settings_for("registration").broker_prefix
    branch = f"BR-{new_id()}"
    add_checkins(registration, branch, 4)
    # Point this relay at a closed port: the broker is unreachable for it.
    unreachable = Relay(
        registration, registration_outbox, Publisher("amqp://guest:guest@127.0.0.1:1/%2F", Topology(prefix))
    )
    assert unreachable.run_once() == 0
    assert unreachable.stats.failed >= 4
    with registration.reader() as session:
        assert registration_outbox.pending_count(session) >= 4
    time.sleep(0.1)
    # The broker is back: the backoff passes and every event arrives.
    relay = Relay(registration, registration_outbox, Publisher(AMQP_URL, Topology(prefix)))

    def drained() -> bool:
        relay.run_once()
        return notifications_for(migrated("notify"), branch) == 4

    wait_until(drained, timeout=60, message="all 4 notifications after recovery")


def test_confirms_of_a_batch_tell_each_unroutable_message_apart(settings_for):
    """Asynchronous confirms: one batch, one wait, and the broker's returns matched per message."""
    # A prefix of its own: the notify queue of the other tests binds "#", which routes everything.
    prefix = settings_for("notify").broker_prefix + "confirms."
    topology = Topology(prefix)
    Consumer(AMQP_URL, topology, name="test-relay", bindings=["test.routable"], handler=print).declare()
    publisher = Publisher(AMQP_URL, topology)
    try:
        keys = ["test.routable", "test.nowhere", "test.routable"] * 50
        batch = [(key, new_id(), b"{}") for key in keys]
        results = publisher.publish_batch(batch)
        assert results[:3] == [None, results[1], None] and "unroutable" in (results[1] or "")
        assert [r is None for r in results] == [key == "test.routable" for key, _, _ in batch]
        # The channel stays usable for the next batch.
        assert publisher.publish_batch([("test.routable", new_id(), b"{}")]) == [None]
    finally:
        publisher.close()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    assert channel.queue_purge(topology.queue("test-relay")).method.message_count == 101
    connection.close()
    delete_topology(prefix, ["test-relay"])
