"""Heartbeats on the real broker, with a 1 s heartbeat so that a silent connection is dropped
within seconds: an idle publisher that keeps itself alive keeps its connection, and a consumer
whose handler is slower than the heartbeat neither loses its connection nor gets the message
redelivered."""

from __future__ import annotations

import secrets
import threading
import time

import pika

from shared.bus import Consumer, Publisher, Topology
from shared.events import make_envelope
from tests.support.infra import AMQP_URL, delete_topology
from tests.support.notify_events import samples

EVENT = "registration.member_checked_in.v1"
SILENCE = 6.0  # several heartbeat timeouts


def idle(publisher: Publisher, keep_alive: bool) -> None:
    deadline = time.monotonic() + SILENCE
    while time.monotonic() < deadline:
        if keep_alive:
            publisher.keep_alive()
        time.sleep(0.2)


def test_an_idle_publisher_that_keeps_alive_keeps_its_connection():
    prefix = f"test-hb-{secrets.token_hex(3)}."
    kept, neglected = (Publisher(AMQP_URL, Topology(prefix), heartbeat=1) for _ in range(2))
    try:
        for publisher in (kept, neglected):
            publisher.keep_alive()  # nothing to do before the first publish
            publisher._ensure_channel()
        kept_connection = kept._connection
        threads = [
            threading.Thread(target=idle, args=(kept, True)),
            threading.Thread(target=idle, args=(neglected, False)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert kept._connection is kept_connection and kept_connection.is_open
        # The control: without keep_alive the broker has dropped the silent connection.
        try:
            neglected._connection.process_data_events(time_limit=0)
            dropped = not neglected._connection.is_open
        except (pika.exceptions.AMQPError, OSError):
            dropped = True
        assert dropped, "the broker kept a silent connection: the test proves nothing"
    finally:
        kept.close()
        neglected.close()
        delete_topology(prefix, [])


def test_a_handler_slower_than_the_heartbeat_keeps_the_connection_and_is_not_redelivered():
    prefix = f"test-hb-{secrets.token_hex(3)}."
    handled: list[str] = []

    def slow_handler(envelope):
        time.sleep(SILENCE)
        handled.append(envelope.id)

    consumer = Consumer(AMQP_URL, Topology(prefix), "test-consumer", [EVENT], slow_handler, heartbeat=1)
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    try:
        consumer.declare()
        thread.start()
        assert consumer.ready.wait(15)
        publisher = Publisher(AMQP_URL, Topology(prefix))
        data, _recipients = samples()[EVENT]
        envelope = make_envelope(EVENT, "registration", str(data["member_id"]), data)
        publisher.publish(EVENT, envelope.id, envelope.to_json())
        publisher.close()
        deadline = time.monotonic() + SILENCE + 10
        while not handled and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # a redelivery after a lost connection would arrive now
        assert handled == [envelope.id]
        assert consumer.connections == 1, "the consumer lost its connection during the slow handler"
    finally:
        consumer.stop()
        thread.join(timeout=15)
        delete_topology(prefix, ["test-consumer"])
