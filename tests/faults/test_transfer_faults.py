"""Transfers in flight survive a SIGKILLed worker and a SIGKILLed Temporal server.

Each scenario starts N transfers, drives every one through its decisions and report-in from
client threads (retrying what the fault made fail, as a real client would), injects the
fault mid-flight, and ends with the audit: N completed, N relationships moved exactly once,
no transfer stuck, no 500. 100 in flight by default (FAULTS_TRANSFERS to change)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from services.registration.models import outbox as registration_outbox
from services.transfer.models import TimelineEntry, Transfer
from services.transfer.models import outbox as transfer_outbox
from tests.faults.harness import CONSUMERS, SCENARIO_NUMBERS, FaultStack, create_members, wait_until
from tests.support.builders import unique_code
from tests.support.stack import own_temporal_env
from tests.support.tokens import ADMIN, bearer

pytestmark = pytest.mark.faults

TRANSFERS = int(os.environ.get("FAULTS_TRANSFERS", "100"))
PROCESSES = (
    "temporal",
    "registration-api",
    "transfer-api",
    "registration-relay",
    "transfer-relay",
    "transfer-worker",
)
TERMINAL = {"completed", "rejected", "cancelled", "expired"}


def same_county_branches(registration: str) -> dict[str, str]:
    """Two branches under one township: the same-county route (three decisions)."""
    codes: dict[str, str] = {}
    parent = "CN"
    for level in ("province", "county", "township"):
        code = unique_code(level[:2].upper())
        response = requests.post(
            f"{registration}/api/v1/orgs",
            json={"code": code, "name": code, "level": level, "parent_code": parent},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        codes[level] = parent = code
    for side in ("from", "to"):
        code = unique_code("BR")
        response = requests.post(
            f"{registration}/api/v1/orgs",
            json={"code": code, "name": code, "level": "branch", "parent_code": codes["township"]},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        codes[side] = code
    return codes


class Driver:
    """Drives one transfer to completion like a patient client: retries 503s and timeouts."""

    def __init__(self, base: str, codes: dict[str, str], statuses: Counter[int | str]) -> None:
        self.base = base
        self.codes = codes
        self.statuses = statuses
        self.holders = [
            bearer("branch_secretary", codes["from"]),
            bearer("township_officer", codes["township"]),
            bearer("branch_secretary", codes["to"]),
        ]

    def _until_done(self, url: str, headers: dict[str, str], body: dict[str, object]) -> int:
        deadline = time.monotonic() + 240
        while True:
            try:
                status: int | str = requests.post(url, json=body, headers=headers, timeout=70).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            self.statuses[status] += 1
            # 409: an earlier try was applied after all (its answer was lost to the fault).
            if status in (200, 409) or time.monotonic() > deadline:
                return status if isinstance(status, int) else 0
            time.sleep(0.5)

    def drive(self, transfer_id: str, member: str) -> int:
        url = f"{self.base}/api/v1/transfers/{transfer_id}"
        for headers in self.holders:
            self._until_done(f"{url}/decisions", headers, {"decision": "approve"})
        return self._until_done(f"{url}/report", bearer("member", self.codes["to"], member), {})


@pytest.fixture(scope="module")
def transfer_stack(faults_env, broker_prefix, tmp_path_factory) -> Iterator[FaultStack]:
    """One stack for both scenarios (each restarts what it kills): start-up is paid once."""
    from tests.support.infra import delete_topology

    log_dir = tmp_path_factory.mktemp("faults-logs")
    stack = FaultStack(
        log_dir,
        {
            **faults_env,
            "NUANLIU_BROKER_PREFIX": f"{broker_prefix}faults{next(SCENARIO_NUMBERS)}.",
            **own_temporal_env("faults"),
            # Its own temporal.db, kept across the Temporal server's restart.
            "NUANLIU_VAR_DIR": str(log_dir),
        },
    )
    try:
        stack.start(*PROCESSES)
        stack.wait_ready("registration", "transfer", timeout=90)
        yield stack
    finally:
        stack.stop()
        delete_topology(stack.prefix, CONSUMERS)


def run_scenario(stack: FaultStack, migrated, fault: Callable[[FaultStack], None]) -> dict[str, int]:
    registration, transfer = stack.url("registration"), stack.url("transfer")
    codes = same_county_branches(registration)
    members = create_members(registration, codes["from"], TRANSFERS)
    statuses: Counter[int | str] = Counter()
    driver = Driver(transfer, codes, statuses)

    with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:

        def apply(member: str) -> str:
            body = {"member_id": member, "to_branch_code": codes["to"], "reason": "工作调动"}
            response = requests.post(
                f"{transfer}/api/v1/transfers", json=body, headers=driver.holders[0], timeout=30
            )
            assert response.status_code == 201, response.text
            return response.json()["id"]

        transfer_ids = list(pool.map(apply, members))
        futures = [pool.submit(driver.drive, t, m) for t, m in zip(transfer_ids, members, strict=True)]
        # Strike when some steps are done and many are not: the fault must land mid-flight.
        wait_until(lambda: statuses[200] >= TRANSFERS // 2, 60, "the first steps", interval=0.05)
        steps_before = statuses[200]
        fault_started = time.monotonic()
        fault(stack)
        reports = [future.result(timeout=300) for future in futures]
        print(
            f"fault after {steps_before} of {4 * TRANSFERS} steps; drained {time.monotonic() - fault_started:.1f}s later"
        )
        assert steps_before < 4 * TRANSFERS * 0.75, "the fault came too late to hit transfers in flight"

    transfer_db, registration_db = migrated("transfer"), migrated("registration")

    def all_terminal() -> bool:
        with transfer_db.reader() as session:
            rows = session.execute(select(Transfer.status).where(Transfer.id.in_(transfer_ids))).all()
        return len(rows) == TRANSFERS and all(status in TERMINAL for (status,) in rows)

    wait_until(all_terminal, 180, "every transfer to reach a terminal state", interval=0.5)
    with transfer_db.reader() as session:
        by_status = Counter(
            status
            for (status,) in session.execute(select(Transfer.status).where(Transfer.id.in_(transfer_ids)))
        )
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
    with registration_db.reader() as session:
        moves = dict(
            session.execute(
                select(registration_outbox.table.c.subject, func.count())
                .where(registration_outbox.table.c.event_type == "registration.relationship_moved.v1")
                .where(registration_outbox.table.c.subject.in_(members))
                .group_by(registration_outbox.table.c.subject)
            ).all()
        )
    audit = {
        "in_flight": TRANSFERS,
        "completed": by_status["completed"],
        "stuck": sum(n for s, n in by_status.items() if s not in TERMINAL),
        "completion_entries": completions or 0,
        "completed_events": completed_events or 0,
        "moved_once": sum(1 for m in members if moves.get(m) == 1),
        "moved_twice_or_more": sum(1 for m in members if moves.get(m, 0) > 1),
        "server_errors": sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500 and s != 503),
    }
    print(f"audit: {audit}; responses seen: {dict(statuses)}; reports: {Counter(reports)}")
    return audit


def expected_audit() -> dict[str, int]:
    n = TRANSFERS
    return {
        "in_flight": n,
        "completed": n,
        "stuck": 0,
        "completion_entries": n,
        "completed_events": n,
        "moved_once": n,
        "moved_twice_or_more": 0,
        "server_errors": 0,
    }


def test_transfer_worker_killed_mid_flight(transfer_stack, migrated):
    def kill_worker(stack: FaultStack) -> None:
        stack.kill("transfer-worker", signal.SIGKILL)
        time.sleep(2.0)
        stack.start("transfer-worker")

    assert run_scenario(transfer_stack, migrated, kill_worker) == expected_audit()


def test_temporal_server_killed_and_restarted_on_its_database(transfer_stack, migrated):
    def kill_temporal(stack: FaultStack) -> None:
        stack.kill("temporal", signal.SIGKILL)
        time.sleep(3.0)
        stack.start("temporal")  # same --db-filename: the histories survive the crash

    assert run_scenario(transfer_stack, migrated, kill_temporal) == expected_audit()
