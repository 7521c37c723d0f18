"""Broker unreachable while requests keep arriving: the APIs answer 2xx and, once the broker is
back, every event is delivered exactly once. The outage is per process (a proxy we cut)."""

from __future__ import annotations

import os
import time
from urllib.parse import urlparse

import pytest
import requests

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
from tests.faults.proxy import TcpProxy
from tests.support.infra import AMQP_URL
from tests.support.tokens import bearer

pytestmark = pytest.mark.faults

# The issue asks for 30 s; CI runs a shorter outage by default (FAULTS_OUTAGE_SECONDS to change).
OUTAGE_SECONDS = float(os.environ.get("FAULTS_OUTAGE_SECONDS", "8"))


def proxied_amqp_url(proxy: TcpProxy) -> str:
    parsed = urlparse(AMQP_URL)
    return parsed._replace(netloc=f"{parsed.username}:{parsed.password}@127.0.0.1:{proxy.port}").geturl()


def test_broker_outage_delays_events_but_loses_none(fault_stack, migrated):
    parsed = urlparse(AMQP_URL)
    proxy = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 5672)
    via_proxy = proxied_amqp_url(proxy)
    stack = fault_stack()
    try:
        for name in ("registration-api", "registration-relay", "notify-consumer"):
            stack.start_with(name, AMQP_URL=via_proxy)
        stack.start("notify-api")
        stack.wait_ready("registration", "notify")
        wait_until(lambda: queue_exists(stack.prefix, "notify"), 30, "the notify queue")
        registration = stack.url("registration")
        branch = create_branch(registration)["branch"]
        members = create_members(registration, branch, 6)

        proxy.cut()
        statuses: list[int] = []
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < OUTAGE_SECONDS:
            statuses.append(check_in(registration, members[index % len(members)], branch).status_code)
            index += 1
            inbox = requests.get(
                f"{stack.url('notify')}/api/v1/notifications",
                headers=bearer("branch_secretary", branch),
                timeout=10,
            )
            statuses.append(inbox.status_code)
            time.sleep(0.1)
        # During the outage the events wait in the outbox, unsent.
        during = outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)
        readiness = requests.get(f"{registration}/readyz", timeout=10)
        proxy.restore()

        assert statuses and all(200 <= s < 300 for s in statuses), sorted(set(statuses))
        assert any(not e["sent"] for e in during), "the outage did not hold any event back"
        assert readiness.status_code == 503 and "broker" in readiness.json()["down"]
        checkins = len(statuses) // 2

        def all_delivered() -> bool:
            events = outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)
            counts = notification_counts(migrated("notify"), (e["event_id"] for e in events))
            return len(events) == checkins and all(counts[e["event_id"]] >= 1 for e in events)

        wait_until(all_delivered, 60, "every check-in's notification after the outage", interval=0.3)
        events = outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)
        audit = loss_and_duplication(
            [e["event_id"] for e in events],
            notification_counts(migrated("notify"), (e["event_id"] for e in events)),
        )
        print(f"broker outage {OUTAGE_SECONDS:.0f}s, {checkins} check-ins: {audit}")
        assert audit == {"expected": checkins, "delivered": checkins, "lost": 0, "duplicated": 0}
        assert all(e["sent"] for e in events)
    finally:
        proxy.close()
