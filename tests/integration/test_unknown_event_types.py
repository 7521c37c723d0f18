"""Unknown event types: consumers deploy first, and what came too early is replayed.

The rule (docs/operations.md, "A new event type"): a release that publishes a new event type
ships its consumers first. An event a consumer does not know yet is dead-lettered at once (never
retried in a loop); once the consumer that knows it runs, `nuanliu dlq replay` sends it back and
it has its effect exactly once. Here the "older notify" is notify with the type taken out of its
contracts, and the "newer notify" the same consumer with the type known again."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from services.notify.consumer import build_consumer
from services.notify.models import Notification
from services.notify.settings import NotifySettings
from shared.bus import Consumer, Publisher, Topology, dead_letters
from shared.contracts import CONTRACTS
from shared.contracts import transfer as trf
from shared.db import Database
from shared.events import make_envelope
from tests.support.infra import AMQP_URL, delete_topology
from tests.support.notify_events import samples


@pytest.fixture
def topology(broker_prefix: str) -> Iterator[Topology]:
    prefix = f"{broker_prefix}unknown-{secrets.token_hex(3)}."
    yield Topology(prefix)
    delete_topology(prefix, ["notify"])


def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def notifications_of(database: Database, event_id: str) -> int:
    with database.reader() as session:
        return int(session.scalar(select(func.count()).where(Notification.event_id == event_id)) or 0)


def running_notify(settings: NotifySettings) -> tuple[Consumer, threading.Thread]:
    consumer = build_consumer(settings)
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    assert consumer.ready.wait(20)
    return consumer, thread


def test_an_event_older_consumers_do_not_know_is_replayed_once_they_do(
    migrated, settings_for, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = migrated("notify")
    settings = settings_for("notify").with_overrides(broker_prefix=topology.prefix)
    data, recipients = samples()[trf.COMPLETED]
    envelope = make_envelope(trf.COMPLETED, "transfer", data["transfer_id"], data)
    publisher = Publisher(AMQP_URL, topology)

    # The older consumer: the type is not in its contracts.
    with monkeypatch.context() as older:
        older.delitem(CONTRACTS, trf.COMPLETED)
        consumer, thread = running_notify(settings)
        try:
            publisher.publish(envelope.type, envelope.id, envelope.to_json())
            until(lambda: consumer.dead_lettered == 1)
            assert consumer.handled == 0, "an unknown type must not be retried in a loop"
        finally:
            consumer.stop()
            thread.join(timeout=20)
    assert notifications_of(database, envelope.id) == 0
    letters = dead_letters.peek(AMQP_URL, topology, "notify")
    assert [(letter.message_id, letter.event_type, letter.reason) for letter in letters] == [
        (envelope.id, trf.COMPLETED, "rejected")
    ]

    # The newer consumer is deployed, then the operator replays the dead letters; a second
    # publication of the same event (a relay that re-sent it) adds nothing.
    consumer, thread = running_notify(settings)
    try:
        assert dead_letters.replay(AMQP_URL, topology, "notify", publisher=publisher) == 1
        publisher.publish(envelope.type, envelope.id, envelope.to_json())
        until(lambda: consumer.handled >= 2)
    finally:
        consumer.stop()
        thread.join(timeout=20)
        publisher.close()
    assert notifications_of(database, envelope.id) == len(recipients)
    assert dead_letters.depth(AMQP_URL, topology, "notify") == 0
