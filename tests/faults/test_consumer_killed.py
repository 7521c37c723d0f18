"""The notify consumer is SIGKILLed mid-batch: unacked messages are redelivered to its successor
and the inbox makes sure no event produces a second notification."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.contracts.registration import MEMBER_CHECKED_IN
from tests.faults.harness import (
    check_in,
    create_branch,
    create_members,
    loss_and_duplication,
    notification_counts,
    outbox_events,
    queue_exists,
    wait_until,
)

pytestmark = pytest.mark.faults

EVENTS = int(os.environ.get("FAULTS_CONSUMER_EVENTS", "200"))


def test_consumer_killed_mid_batch_redelivers_without_duplicates(fault_stack, migrated):
    stack = fault_stack()
    stack.start("registration-api", "registration-relay", "notify-consumer")
    stack.wait_ready("registration")
    wait_until(lambda: queue_exists(stack.prefix, "notify"), 30, "the notify queue")
    # Let the events pile up in the (durable) queue, so the next consumer gets a full batch.
    stack.kill("notify-consumer")

    registration = stack.url("registration")
    branch = create_branch(registration)["branch"]
    members = create_members(registration, branch, 10)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda i: check_in(registration, members[i % 10], branch).status_code, range(EVENTS))
        )
    assert statuses.count(201) == EVENTS, sorted(set(statuses))
    wait_until(
        lambda: all(e["sent"] for e in outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)),
        60,
        "the relay to publish every check-in",
    )
    event_ids = [e["event_id"] for e in outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)]
    assert len(event_ids) == EVENTS

    stack.start("notify-consumer")
    handled_at_kill = 0

    def some_handled() -> bool:
        nonlocal handled_at_kill
        handled_at_kill = sum(notification_counts(migrated("notify"), event_ids).values())
        return handled_at_kill >= 1

    wait_until(some_handled, 60, "the consumer to start on the batch", interval=0.01)
    stack.kill("notify-consumer", signal.SIGKILL)
    handled_at_kill = sum(notification_counts(migrated("notify"), event_ids).values())
    assert 0 < handled_at_kill < EVENTS, f"not killed mid-batch ({handled_at_kill} of {EVENTS} handled)"

    stack.start("notify-consumer")

    def all_delivered() -> bool:
        counts = notification_counts(migrated("notify"), event_ids)
        return all(counts[e] >= 1 for e in event_ids)

    wait_until(all_delivered, 90, "every event after the restart", interval=0.3)
    audit = loss_and_duplication(event_ids, notification_counts(migrated("notify"), event_ids))
    print(f"consumer killed after {handled_at_kill}/{EVENTS} events: {audit}")
    assert audit == {"expected": EVENTS, "delivered": EVENTS, "lost": 0, "duplicated": 0}
