"""Poison events of every kind are dead-lettered at once, and the flow behind them continues."""

from __future__ import annotations

import json
import uuid

import pika
import pytest

from shared.bus import Topology
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.db import utcnow
from tests.faults.harness import (
    check_in,
    create_branch,
    create_members,
    drain_queue,
    notification_counts,
    outbox_events,
    queue_exists,
    wait_until,
)
from tests.support.infra import AMQP_URL

pytestmark = pytest.mark.faults


def envelope(event_type: str, data: object) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/nuanliu/faults",
            "type": event_type,
            "time": utcnow().isoformat(),
            "subject": "poison",
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


POISONS: dict[str, tuple[str, bytes]] = {
    "malformed JSON": (MEMBER_CHECKED_IN, b'{"specversion": "1.0", "id": '),
    "not an object": (MEMBER_CHECKED_IN, b"[1, 2, 3]"),
    "not UTF-8": (MEMBER_CHECKED_IN, b"\xff\xfe\x00garbage"),
    "unknown type": ("registration.no_such_event.v1", envelope("registration.no_such_event.v1", {})),
    "valid type, invalid body": (MEMBER_CHECKED_IN, envelope(MEMBER_CHECKED_IN, {"member_id": 42})),
    "valid type, body not an object": (MEMBER_CHECKED_IN, envelope(MEMBER_CHECKED_IN, "hello")),
    "envelope without data": (MEMBER_CHECKED_IN, json.dumps({"specversion": "1.0", "id": "x"}).encode()),
}


def test_poison_events_are_dead_lettered_and_flow_continues(fault_stack, migrated):
    stack = fault_stack()
    stack.start("registration-api", "registration-relay", "notify-consumer")
    stack.wait_ready("registration")
    wait_until(lambda: queue_exists(stack.prefix, "notify"), 30, "the notify queue")
    topology = Topology(stack.prefix)

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for name, (routing_key, body) in POISONS.items():
            channel.basic_publish(
                topology.exchange,
                routing_key,
                body,
                pika.BasicProperties(message_id=f"poison-{name}", delivery_mode=2),
                mandatory=True,
            )
    finally:
        connection.close()

    registration = stack.url("registration")
    branch = create_branch(registration)["branch"]
    members = create_members(registration, branch, 3)
    for member in members:
        assert check_in(registration, member, branch).status_code == 201

    def flowed() -> bool:
        events = outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)
        counts = notification_counts(migrated("notify"), (e["event_id"] for e in events))
        return len(events) == 3 and all(counts[e["event_id"]] == 1 for e in events)

    wait_until(flowed, 60, "the check-ins behind the poison to be notified", interval=0.3)
    dead: list[str] = []

    def all_dead_lettered() -> bool:
        dead.extend(str(props.message_id) for props, _ in drain_queue(topology.dead_letter_queue("notify")))
        return len(dead) >= len(POISONS)

    wait_until(all_dead_lettered, 30, "the poison events in the dead-letter queue", interval=0.3)
    assert sorted(dead) == sorted(f"poison-{name}" for name in POISONS)
    assert stack.running("notify-consumer"), stack.tail("notify-consumer")
