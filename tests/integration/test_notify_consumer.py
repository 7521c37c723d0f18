"""The notify consumer on the real broker and database: every event type, redelivery, the
dead-letter queue, and a connection killed mid-stream."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pika
import pytest
from sqlalchemy import func, select

from services.notify import consumer as notify_events
from services.notify.models import Notification
from shared.bus import Consumer, Publisher, Topology
from shared.events import Envelope, make_envelope
from tests.support.infra import AMQP_URL
from tests.support.notify_events import samples


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def recipients_of(database, event_ids: list[str]) -> dict[str, list[str]]:
    with database.reader() as session:
        rows = session.execute(
            select(Notification.event_id, Notification.recipient_kind, Notification.recipient).where(
                Notification.event_id.in_(event_ids)
            )
        ).all()
    found: dict[str, list[str]] = {}
    for event_id, kind, recipient in rows:
        found.setdefault(event_id, []).append(f"{kind}:{recipient}")
    return found


def count_for(database, event_ids: list[str]) -> int:
    with database.reader() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Notification).where(Notification.event_id.in_(event_ids))
            )
            or 0
        )


def start(consumer: Consumer) -> threading.Thread:
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    assert consumer.ready.wait(15)
    return thread


@pytest.fixture
def notify_batch_consumer(settings_for, migrated) -> Iterator[Consumer]:
    database = migrated("notify")
    settings = settings_for("notify")
    consumer = Consumer(
        AMQP_URL,
        Topology(settings.broker_prefix),
        name=notify_events.CONSUMER,
        bindings=["#"],
        handler=lambda envelope: notify_events.handle_event(database, envelope),
        batch_handler=lambda envelopes: notify_events.handle_events(database, envelopes),
        prefetch=100,
        delivery_limit=settings.consumer_delivery_limit,
    )
    thread = start(consumer)
    yield consumer
    consumer.stop()
    thread.join(10)


def publish(prefix: str, envelopes: list[Envelope], times: int = 1) -> None:
    publisher = Publisher(AMQP_URL, Topology(prefix))
    try:
        for _ in range(times):
            errors = publisher.publish_batch([(e.type, e.id, e.to_json()) for e in envelopes])
            assert errors == [None] * len(envelopes)
    finally:
        publisher.close()


def test_every_event_type_notifies_exactly_the_right_people(settings_for, migrated, notify_batch_consumer):
    cases = samples()
    envelopes = {t: make_envelope(t, "test", "s", data) for t, (data, _) in cases.items()}
    publish(settings_for("notify").broker_prefix, list(envelopes.values()))
    ids = [e.id for e in envelopes.values()]
    expected_total = sum(len(expected) for _, expected in cases.values())
    database = migrated("notify")
    wait_until(lambda: count_for(database, ids) == expected_total, message="every notification")
    found = recipients_of(database, ids)
    for event_type, (_, expected) in cases.items():
        assert sorted(found.get(envelopes[event_type].id, [])) == sorted(expected), event_type


def test_redelivered_events_make_no_notification_twice(settings_for, migrated, notify_batch_consumer):
    data, expected = samples()["transfer.completed.v1"]
    envelopes = [make_envelope("transfer.completed.v1", "test", "s", data) for _ in range(20)]
    before = notify_batch_consumer.handled
    # Three deliveries of each event, some of them inside the same batch.
    publish(settings_for("notify").broker_prefix, envelopes, times=3)
    wait_until(lambda: notify_batch_consumer.handled - before >= 60, message="60 deliveries handled")
    assert count_for(migrated("notify"), [e.id for e in envelopes]) == 20 * len(expected)
    # And a direct second handling adds nothing either.
    assert notify_events.handle_events(migrated("notify"), envelopes) == 0


def test_a_raising_handler_dead_letters_after_the_limit_and_the_rest_flow(settings_for, migrated):
    prefix = settings_for("notify").broker_prefix
    topology = Topology(prefix)
    database = migrated("notify")
    data, _ = samples()["registration.member_checked_in.v1"]
    bad = make_envelope("registration.member_checked_in.v1", "test", "s", data)
    good = [make_envelope("registration.member_checked_in.v1", "test", "s", data) for _ in range(10)]
    attempts: list[str] = []

    def handle_one(envelope: Envelope) -> None:
        if envelope.id == bad.id:
            attempts.append(envelope.id)
            raise RuntimeError("this event always breaks the handler")
        notify_events.handle_event(database, envelope)

    def handle_many(envelopes: list[Envelope]) -> None:
        if any(e.id == bad.id for e in envelopes):
            raise RuntimeError("the batch holds the breaking event")
        notify_events.handle_events(database, envelopes)

    consumer = Consumer(
        AMQP_URL,
        topology,
        name="test-consumer",
        bindings=["registration.member_checked_in.v1"],
        handler=handle_one,
        batch_handler=handle_many,
        delivery_limit=2,
    )
    consumer.declare()
    publish(prefix, [good[0], bad, *good[1:5]])
    thread = start(consumer)
    try:
        publish(prefix, good[5:])
        good_ids = [e.id for e in good]
        wait_until(lambda: count_for(database, good_ids) == 10 * 2, message="the good events' notifications")
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = connection.channel()

        def dead() -> int:
            return channel.queue_declare(
                topology.dead_letter_queue("test-consumer"), passive=True
            ).method.message_count

        wait_until(lambda: dead() == 1, message="the breaking event in the DLQ")
        _, _, body = channel.basic_get(topology.dead_letter_queue("test-consumer"), auto_ack=True)
        assert json.loads(body)["id"] == bad.id
        connection.close()
        assert len(attempts) == 3  # the first delivery and two redeliveries, then dead-lettered
        assert count_for(database, [bad.id]) == 0
    finally:
        consumer.stop()
        thread.join(10)


def broker_connections_named(connection_name: str) -> list[str]:
    """The broker's process ids of the connections that carry this client-given name."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line.split("\t")[0] for line in listing.stdout.splitlines() if f'"{connection_name}"' in line]


def close_broker_connection(pid: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "close_connection", pid, "test: killed mid-stream"],
        capture_output=True,
        check=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to kill a connection")
def test_a_consumer_whose_connection_is_killed_resumes_with_nothing_lost(settings_for, migrated):
    prefix = settings_for("notify").broker_prefix
    database = migrated("notify")
    slow_down = threading.Event()
    slow_down.set()

    def handle_many(envelopes: list[Envelope]) -> None:
        if slow_down.is_set():
            time.sleep(0.25)  # keep most of the stream unhandled when the connection dies
        notify_events.handle_events(database, envelopes)

    consumer = Consumer(
        AMQP_URL,
        Topology(prefix),
        name=notify_events.CONSUMER,
        bindings=["#"],
        handler=lambda envelope: notify_events.handle_event(database, envelope),
        batch_handler=handle_many,
        prefetch=10,
        connection_name=f"{prefix}notify-kill-test",
    )
    thread = start(consumer)
    try:
        data, expected = samples()["registration.member_checked_in.v1"]
        envelopes = [
            make_envelope("registration.member_checked_in.v1", "test", "s", data) for _ in range(400)
        ]
        ids = [e.id for e in envelopes]
        (pid,) = broker_connections_named(f"{prefix}notify-kill-test")  # only ours is touched
        publish(prefix, envelopes)
        wait_until(lambda: count_for(database, ids) >= 20, message="the stream to start")
        close_broker_connection(pid)
        assert count_for(database, ids) < len(ids) * len(expected)  # killed mid-stream indeed
        slow_down.clear()
        wait_until(lambda: consumer.connections >= 2 and consumer.ready.is_set(), message="a reconnect")
        wait_until(lambda: count_for(database, ids) == len(ids) * len(expected), message="all notifications")
        assert len(recipients_of(database, ids)) == 400
    finally:
        consumer.stop()
        thread.join(10)


def test_a_batch_gathers_what_arrives_within_its_wait_and_is_acked_at_once(settings_for, migrated):
    """`batch_wait`: a message arriving after the first joins its batch (here the batch closes at
    its size, long before the wait ends); the batch's one `multiple` ack settles every message."""
    prefix = settings_for("notify").broker_prefix
    topology = Topology(prefix)
    database = migrated("notify")
    data, _ = samples()["registration.member_checked_in.v1"]
    envelopes = [make_envelope("registration.member_checked_in.v1", "test", "s", data) for _ in range(5)]
    batches: list[int] = []

    def handle_many(batch: list[Envelope]) -> None:
        batches.append(len(batch))
        notify_events.handle_events(database, batch)

    consumer = Consumer(
        AMQP_URL,
        topology,
        name="test-gathering",
        bindings=["registration.member_checked_in.v1"],
        handler=lambda envelope: notify_events.handle_event(database, envelope),
        batch_handler=handle_many,
        batch_size=5,
        batch_wait=30.0,
    )
    consumer.declare()
    thread = start(consumer)
    try:
        publish(prefix, envelopes[:1])
        time.sleep(0.3)  # the first is in the consumer's hands, its batch still open
        publish(prefix, envelopes[1:])
        wait_until(lambda: consumer.handled == 5, message="five messages handled")
        assert batches == [5]
        assert count_for(database, [e.id for e in envelopes]) == 5 * 2
    finally:
        consumer.stop()
        thread.join(10)
    # Nothing was left unacked: closing the connection requeued nothing.
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    queue = connection.channel().queue_declare(topology.queue("test-gathering"), passive=True)
    connection.close()
    assert queue.method.message_count == 0
