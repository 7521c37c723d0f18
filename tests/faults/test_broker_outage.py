"""Broker unreachable while check-ins, claims and transfer decisions keep arriving: the APIs keep
answering 2xx, and once the broker is back every event is delivered, once. The outage is per
process (every project process reaches the broker through a proxy that the test cuts)."""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from urllib.parse import urlparse

import pytest
import requests

from shared.contracts.registration import MEMBER_CHECKED_IN
from tests.faults.harness import (
    check_in,
    create_members,
    loss_and_duplication,
    notification_counts,
    notify_processed,
    outbox_event_ids,
    outbox_events,
    queue_exists,
    wait_until,
)
from tests.faults.proxy import TcpProxy
from tests.faults.test_transfer_faults import same_county_branches
from tests.support.infra import AMQP_URL
from tests.support.stack import own_temporal_env
from tests.support.tokens import bearer

pytestmark = pytest.mark.faults

# The broker stays unreachable this long (FAULTS_OUTAGE_SECONDS to change).
OUTAGE_SECONDS = float(os.environ.get("FAULTS_OUTAGE_SECONDS", "30"))
POOL = 25  # transfers awaiting a decision, and members to claim, prepared before the outage
PROXIED = (
    "registration-api",
    "registration-relay",
    "tasks-api",
    "tasks-relay",
    "transfer-api",
    "transfer-relay",
    "transfer-worker",
    "notify-consumer",
)


def proxied_amqp_url(proxy: TcpProxy) -> str:
    parsed = urlparse(AMQP_URL)
    return parsed._replace(netloc=f"{parsed.username}:{parsed.password}@127.0.0.1:{proxy.port}").geturl()


def test_broker_outage_delays_events_but_loses_none(fault_stack, migrated):
    parsed = urlparse(AMQP_URL)
    proxy = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 5672)
    stack = fault_stack(**own_temporal_env("faults"))
    stack.env["NUANLIU_VAR_DIR"] = str(stack.log_dir)
    try:
        stack.start("temporal", "notify-api")
        for name in PROXIED:
            stack.start_with(name, AMQP_URL=proxied_amqp_url(proxy))
        stack.wait_ready("registration", "tasks", "transfer", "notify", timeout=90)
        wait_until(lambda: queue_exists(stack.prefix, "notify"), 30, "the notify queue")
        registration, tasks, transfer = stack.url("registration"), stack.url("tasks"), stack.url("transfer")
        codes = same_county_branches(registration)
        branch = codes["from"]
        members = create_members(registration, branch, POOL)
        secretary = bearer("branch_secretary", branch)
        officer = bearer("township_officer", codes["township"])
        task = requests.post(
            f"{tasks}/api/v1/tasks",
            json={
                "title": "社区义诊",
                "description": "每周六",
                "org_code": codes["township"],
                "category": "health",
                "capacity": 50,
                "due_on": (date.today() + timedelta(days=30)).isoformat(),
            },
            headers=officer,
            timeout=10,
        )
        assert task.status_code == 201, task.text
        task_id = task.json()["id"]
        assert (
            requests.post(f"{tasks}/api/v1/tasks/{task_id}/publish", headers=officer, timeout=10).status_code
            == 200
        )
        transfers = []
        for member in members:
            response = requests.post(
                f"{transfer}/api/v1/transfers",
                json={"member_id": member, "to_branch_code": codes["to"], "reason": "工作调动"},
                headers=secretary,
                timeout=30,
            )
            assert response.status_code == 201, response.text
            transfers.append(response.json()["id"])

        proxy.cut()
        statuses: dict[str, list[int]] = {"check-in": [], "claim": [], "decision": [], "inbox": []}
        started = time.monotonic()
        index = 0
        # For the whole outage: each round checks a member in and reads the inbox; the first POOL
        # rounds also claim the task and decide a transfer (each can be done only once).
        while time.monotonic() - started < OUTAGE_SECONDS:
            member = members[index % POOL]
            statuses["check-in"].append(check_in(registration, member, branch).status_code)
            if index < POOL:
                statuses["claim"].append(
                    requests.post(
                        f"{tasks}/api/v1/tasks/{task_id}/claims",
                        json={"commitment": "保证完成"},
                        headers=bearer("member", branch, sub=member),
                        timeout=30,
                    ).status_code
                )
                statuses["decision"].append(
                    requests.post(
                        f"{transfer}/api/v1/transfers/{transfers[index]}/decisions",
                        json={"decision": "approve"},
                        headers=secretary,
                        timeout=30,
                    ).status_code
                )
            statuses["inbox"].append(
                requests.get(
                    f"{stack.url('notify')}/api/v1/notifications", headers=secretary, timeout=10
                ).status_code
            )
            index += 1
            time.sleep(0.2)
        outage = time.monotonic() - started
        # During the outage the events wait in the outboxes, unsent.
        held_back = [
            sent
            for service, subjects in (
                ("registration", members),
                ("tasks", [task_id]),
                ("transfer", transfers),
            )
            for sent in outbox_event_ids(migrated(service), service, subjects).values()
        ].count(False)
        readiness = requests.get(f"{registration}/readyz", timeout=10)
        proxy.restore()

        refused = {
            kind: sorted({s for s in codes_ if not 200 <= s < 300}) for kind, codes_ in statuses.items()
        }
        assert not any(refused.values()), f"answers other than 2xx during the outage: {refused}"
        assert held_back > 0, "the outage did not hold any event back"
        # Readiness means "can serve": the outbox absorbs the outage, so the API stays in rotation.
        assert readiness.status_code == 200 and readiness.json()["broker"] == "degraded"

        def events() -> dict[str, bool]:
            found: dict[str, bool] = {}
            for service, subjects in (
                ("registration", members),
                ("tasks", [task_id]),
                ("transfer", transfers),
            ):
                found.update(outbox_event_ids(migrated(service), service, subjects))
            return found

        def all_processed() -> bool:
            ids = list(events())
            processed = notify_processed(migrated("notify"), ids)
            return all(processed[e] >= 1 for e in ids)

        wait_until(all_processed, 90, "every event to reach notify after the outage", interval=0.5)
        ids = list(events())
        processed = notify_processed(migrated("notify"), ids)
        audit = loss_and_duplication(ids, processed)
        check_in_events = [
            e["event_id"] for e in outbox_events(migrated("registration"), MEMBER_CHECKED_IN, members)
        ]
        notified = notification_counts(migrated("notify"), check_in_events)
        print(
            f"broker outage {outage:.1f}s: {index} rounds of check-in + inbox read "
            f"({min(index, POOL)} with a claim and a decision), "
            f"{held_back} events held back; audit over {len(ids)} events: {audit}"
        )
        assert audit == {"expected": len(ids), "delivered": len(ids), "lost": 0, "duplicated": 0}
        assert all(events().values()), "an event is still unsent"
        assert all(notified[e] >= 1 for e in check_in_events), "a check-in produced no notification"
    finally:
        proxy.close()
