"""Operators see and replay a consumer's dead letters; a queue declared with other arguments stops
the consumer with a clear error instead of a reconnect loop."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid

import pika
import pytest

from shared.bus import Consumer, Publisher, Topology, TopologyMismatch, dead_letters
from tests.support.infra import AMQP_URL, delete_topology


@pytest.fixture
def topology(broker_prefix: str):
    prefix = f"{broker_prefix}dlq-{secrets.token_hex(3)}."
    yield Topology(prefix)
    delete_topology(prefix, ["watcher"])


def _queue_depth(topology: Topology, name: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        return int(connection.channel().queue_declare(name, passive=True).method.message_count)
    finally:
        connection.close()


def _until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_dead_letters_are_listed_and_replayed(topology: Topology) -> None:
    consumer = Consumer(AMQP_URL, topology, "watcher", ["#"], handler=lambda envelope: None)
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    publisher = Publisher(AMQP_URL, topology)
    try:
        assert consumer.ready.wait(20)
        unknown = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/nuanliu/future",
                   "type": "registration.future_fact.v1", "time": "2026-12-01T00:00:00+00:00", "data": {}}  # fmt: skip
        publisher.publish("registration.future_fact.v1", unknown["id"], json.dumps(unknown).encode())
        publisher.publish("registration.member_checked_in.v1", "malformed-1", b"{not json")
        _until(lambda: consumer.dead_lettered == 2)
    finally:
        consumer.stop()
        thread.join(timeout=20)
    dlq = topology.dead_letter_queue("watcher")
    _until(lambda: _queue_depth(topology, dlq) == 2)

    letters = dead_letters.peek(AMQP_URL, topology, "watcher")
    assert {(letter.message_id, letter.event_type) for letter in letters} == {
        (unknown["id"], "registration.future_fact.v1"),
        ("malformed-1", "registration.member_checked_in.v1"),
    }
    assert all(letter.reason == "rejected" for letter in letters)
    assert dead_letters.depth(AMQP_URL, topology, "watcher") == 2, "a look must leave them in place"

    assert dead_letters.replay(AMQP_URL, topology, "watcher", publisher=publisher) == 2
    publisher.close()
    assert dead_letters.depth(AMQP_URL, topology, "watcher") == 0
    # Back on the exchange under their own type: the consumer's queue holds them again.
    _until(lambda: _queue_depth(topology, topology.queue("watcher")) == 2)


def test_a_queue_declared_with_other_arguments_stops_the_consumer(topology: Topology) -> None:
    Consumer(AMQP_URL, topology, "watcher", ["#"], handler=lambda envelope: None, delivery_limit=5).declare()
    changed = Consumer(AMQP_URL, topology, "watcher", ["#"], handler=lambda envelope: None, delivery_limit=7)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            changed.run_forever()
        except BaseException as error:  # noqa: BLE001 (the test reads what stopped it)
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():
        changed.stop()
        thread.join(timeout=10)
    assert outcome and isinstance(outcome[0], TopologyMismatch), "the consumer kept reconnecting"
    assert "PRECONDITION_FAILED" in str(outcome[0]) or "inequivalent" in str(outcome[0])
