"""The dead-letter queue of a consumer, for operators: look at what is there, and send it back.

A message lands there when it can never be handled (malformed, or an event type the consumer
does not know yet) or failed past the queue's delivery limit. After the cause is fixed (the
consumer that knows the new type is deployed, a bug is fixed), `replay` publishes each message
again to the events exchange under its own type, so every consumer bound to it sees it again;
consumers dedupe through their inbox, so a replay never has an effect twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pika

from shared.bus.publisher import Publisher
from shared.bus.topology import Topology, connect


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    event_type: str
    reason: str
    deaths: int
    body: bytes


def depth(amqp_url: str, topology: Topology, consumer: str) -> int:
    """How many messages wait in the consumer's dead-letter queue."""
    connection = connect(amqp_url)
    try:
        frame = connection.channel().queue_declare(topology.dead_letter_queue(consumer), passive=True)
        return int(frame.method.message_count)
    finally:
        connection.close()


def peek(amqp_url: str, topology: Topology, consumer: str, limit: int = 100) -> list[DeadLetter]:
    """Up to `limit` dead letters, oldest first, left where they are."""
    connection = connect(amqp_url)
    letters: list[DeadLetter] = []
    try:
        channel = connection.channel()
        for _ in range(limit):
            method, properties, body = channel.basic_get(topology.dead_letter_queue(consumer), auto_ack=False)
            if method is None:
                break
            letters.append(_letter(properties, body))
        # Closing the channel returns every message got without an ack to the queue, in order.
        channel.close()
    finally:
        connection.close()
    return letters


def replay(
    amqp_url: str, topology: Topology, consumer: str, limit: int | None = None, publisher: Publisher | None = None
) -> int:
    """Publish dead letters again under their own type, acking each only once its publication is
    confirmed; returns how many went back."""
    own_publisher = publisher is None
    publisher = publisher or Publisher(amqp_url, topology)
    connection = connect(amqp_url)
    replayed = 0
    try:
        channel = connection.channel()
        while limit is None or replayed < limit:
            method, properties, body = channel.basic_get(topology.dead_letter_queue(consumer), auto_ack=False)
            if method is None:
                break
            letter = _letter(properties, body)
            publisher.publish(letter.event_type, letter.message_id, body)
            channel.basic_ack(method.delivery_tag)
            replayed += 1
    finally:
        connection.close()
        if own_publisher:
            publisher.close()
    return replayed


def _letter(properties: pika.BasicProperties, body: bytes) -> DeadLetter:
    deaths: list[dict[str, Any]] = list((properties.headers or {}).get("x-death") or [])
    first = deaths[0] if deaths else {}
    routing_keys = first.get("routing-keys") or []
    event_type = properties.type or (routing_keys[0] if routing_keys else "")
    reason = first.get("reason", "")
    return DeadLetter(
        message_id=str(properties.message_id or ""),
        event_type=str(event_type),
        reason=reason.decode() if isinstance(reason, bytes) else str(reason),
        deaths=int(sum(int(death.get("count", 1)) for death in deaths)),
        body=body,
    )
