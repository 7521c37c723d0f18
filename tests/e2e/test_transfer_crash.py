"""Kill the transfer worker (SIGKILL) while 50 transfers are mid-flight; all still complete, once."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from services.registration.models import outbox as registration_outbox
from services.transfer.models import TimelineEntry, Transfer
from services.transfer.models import outbox as transfer_outbox
from tests.e2e.transfer_stack import lichuan_and_shaoxing, new_member, transfer_stack_fixture  # noqa: F401
from tests.support.stack import Stack
from tests.support.tokens import bearer

TRANSFERS = 50


def drive(transfer: str, transfer_id: str, tokens: list[dict[str, str]], member: dict[str, str]) -> str:
    """Approve every stage, then report in. A call the crash made time out (503) is retried
    only while the transfer still waits on that step: the projection says what happened."""
    url = f"{transfer}/api/v1/transfers/{transfer_id}"
    steps = [(f"{url}/decisions", {"decision": "approve"}, headers) for headers in tokens]
    steps.append((f"{url}/report", {}, member))
    waiting_on = ["pending_sending_branch", "pending_township", "pending_county", "pending_receiving_county"]
    waiting_on += ["pending_receiving_branch", "letter_issued"]
    deadline = time.monotonic() + 240
    for (step_url, body, headers), status in zip(steps, waiting_on, strict=True):
        while requests.get(url, headers=headers, timeout=60).json()["status"] == status:
            assert time.monotonic() < deadline, f"{transfer_id} stuck at {status}"
            response = requests.post(step_url, json=body, headers=headers, timeout=90)
            if response.status_code not in (200, 409, 503):
                raise AssertionError(f"{step_url}: {response.status_code} {response.text}")
            if response.status_code != 200:
                time.sleep(0.5)
    return requests.get(url, headers=member, timeout=30).json()["status"]


def test_worker_killed_mid_flight_every_transfer_completes_once(transfer_stack: Stack, migrated) -> None:
    registration, transfer = transfer_stack.url("registration"), transfer_stack.url("transfer")
    lichuan, shaoxing = lichuan_and_shaoxing(registration)
    tokens = [
        bearer("branch_secretary", lichuan["branch"], "s1"),
        bearer("township_officer", lichuan["township"], "t1"),
        bearer("org_department", lichuan["county"], "c1"),
        bearer("org_department", shaoxing["county"], "rc1"),  # issue 21: the receiving county
        bearer("branch_secretary", shaoxing["branch"], "r1"),
    ]
    with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
        members = list(pool.map(lambda _: new_member(registration, lichuan["branch"]), range(TRANSFERS)))

        def apply(member_id: str) -> str:
            body = {"member_id": member_id, "to_branch_code": shaoxing["branch"], "reason": "务工"}
            # An Idempotency-Key makes a retry after a timeout on a loaded machine safe.
            headers = {**tokens[0], "Idempotency-Key": f"apply-{member_id}"}
            for attempt in range(3):
                try:
                    response = requests.post(
                        f"{transfer}/api/v1/transfers", json=body, headers=headers, timeout=60
                    )
                except requests.Timeout:
                    if attempt == 2:
                        raise
                    continue
                if response.status_code != 503:
                    break
            assert response.status_code == 201, response.text
            return response.json()["id"]

        transfer_ids = list(pool.map(apply, members))
        futures = [
            pool.submit(drive, transfer, tid, tokens, bearer("member", lichuan["branch"], mid))
            for tid, mid in zip(transfer_ids, members, strict=True)
        ]
        time.sleep(1.0)
        transfer_stack.kill("transfer-worker", signal.SIGKILL)
        time.sleep(1.0)
        transfer_stack.start("transfer-worker")
        statuses = [future.result(timeout=300) for future in futures]
    assert set(statuses) <= {"completed"}, statuses

    transfer_db, registration_db = migrated("transfer"), migrated("registration")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with transfer_db.reader() as session:
            done = session.scalar(
                select(func.count()).where(Transfer.id.in_(transfer_ids), Transfer.status == "completed")
            )
        if done == TRANSFERS:
            break
        time.sleep(0.5)
    assert done == TRANSFERS
    with transfer_db.reader() as session:
        completions = session.scalar(
            select(func.count()).where(
                TimelineEntry.transfer_id.in_(transfer_ids), TimelineEntry.action == "complete"
            )
        )
        completed_events = session.scalar(
            select(func.count()).where(
                transfer_outbox.table.c.subject.in_(transfer_ids),
                transfer_outbox.table.c.event_type == "transfer.completed.v1",
            )
        )
    assert completions == TRANSFERS and completed_events == TRANSFERS
    # Registration moved each relationship exactly once (one relationship_moved event per member).
    with registration_db.reader() as session:
        moves = session.execute(
            select(registration_outbox.table.c.subject, func.count())
            .where(registration_outbox.table.c.event_type == "registration.relationship_moved.v1")
            .where(registration_outbox.table.c.subject.in_(members))
            .group_by(registration_outbox.table.c.subject)
        ).all()
    assert len(moves) == TRANSFERS and all(count == 1 for _, count in moves), moves
    for member_id in members[:5]:
        member = requests.get(
            f"{registration}/api/v1/members/{member_id}", headers=tokens[3], timeout=10
        ).json()
        assert member["branch_code"] == shaoxing["branch"]
