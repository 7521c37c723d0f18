"""PATCH /members/{id} with its outbox event and audit entry under faults: the API process killed
(SIGKILL, then restarted) and the database dropped, while editors keep editing. Nothing is
half-written: every version a member's record went through after the start has exactly one
`registration.member_updated.v1` event and one `update` audit entry, and nothing else does."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from services.registration.models import Member, audit_log, outbox
from shared.contracts.registration import MEMBER_UPDATED
from tests.faults.harness import FaultStack, create_branch, create_members, wait_until
from tests.faults.test_database_drop import DatabaseOutage
from tests.support.tokens import bearer

pytestmark = pytest.mark.faults

EDITORS = 4


def edit_phone(base: str, member: str, headers: dict[str, str], number: int, etags: dict[str, str]) -> Any:
    """One edit as a client makes it: PATCH with the ETag it holds (read first when it holds
    none; a 412 means read again). The status, or the name of the exception when the answer
    never came (the edit is then in doubt, and the ETag held may be stale)."""
    url = f"{base}/api/v1/members/{member}"
    try:
        if member not in etags:
            read = requests.get(url, headers=headers, timeout=15)
            if read.status_code != 200:
                return f"read {read.status_code}"
            etags[member] = read.headers["ETag"]
        body = {"phone": f"137{number:08d}"}
        response = requests.patch(url, json=body, headers={**headers, "If-Match": etags[member]}, timeout=15)
    except requests.RequestException as error:
        return type(error).__name__
    if response.status_code == 200:
        etags[member] = response.headers["ETag"]
    elif response.status_code == 412:
        del etags[member]
    return response.status_code


class Editors:
    """One thread per member, editing its phone over and over."""

    def __init__(self, base: str, members: list[str], headers: dict[str, str]) -> None:
        self.base, self.members, self.headers = base, members, headers
        self.statuses: Counter[Any] = Counter()
        self.etags: dict[str, str] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.edit, args=(m, i)) for i, m in enumerate(members)]

    def edit(self, member: str, index: int) -> None:
        number = index * 1_000_000
        while not self.stop.is_set():
            number += 1
            self.statuses[edit_phone(self.base, member, self.headers, number, self.etags)] += 1
            time.sleep(0.01)

    def __enter__(self) -> Editors:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def versions(database, members: list[str]) -> dict[str, int]:
    with database.reader() as session:
        return dict(session.execute(select(Member.id, Member.version).where(Member.id.in_(members))).all())


def assert_nothing_half_written(database, members: list[str], before: dict[str, int]) -> int:
    """Each version step since `before` has its event and its audit entry; returns the edits."""
    with database.reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.event_type == MEMBER_UPDATED, outbox.table.c.subject.in_(members)
            )
        ).all()
        audits = dict(
            session.execute(
                select(audit_log.c.object_id, func.count())
                .where(audit_log.c.object_id.in_(members), audit_log.c.action == "update")
                .group_by(audit_log.c.object_id)
            ).all()
        )
    events = Counter(json.loads(body)["data"]["member_id"] for body in bodies)
    assert all(json.loads(body)["data"]["fields"] == ["phone"] for body in bodies)
    after = versions(database, members)
    for member in members:
        steps = after[member] - before[member]
        assert events[member] == steps, (member, events[member], steps)
        assert audits.get(member, 0) == steps, (member, audits.get(member), steps)
    return sum(events.values())


def run_load(stack: FaultStack, base: str, members: list[str], fault, recover) -> Counter[Any]:
    headers = bearer("admin", "CN", sub="admin")
    with Editors(base, members, headers) as editors:
        wait_until(lambda: editors.statuses[200] >= 20, 60, "edits before the fault")
        fault()
        time.sleep(2.0)
        recover()
        seen = editors.statuses[200]
        wait_until(lambda: editors.statuses[200] >= seen + 20, 60, "edits after the fault")
    return editors.statuses


def test_edits_survive_a_killed_api_and_a_dropped_database(fault_stack, migrated, test_databases):
    database = migrated("registration")
    stack = fault_stack(NUANLIU_SQLITE_BUSY_TIMEOUT_MS="1000")
    stack.start("registration-api")
    stack.wait_ready("registration")
    base = stack.url("registration")
    branch = create_branch(base)["branch"]
    members = create_members(base, branch, EDITORS)
    before = versions(database, members)

    def restart() -> None:
        stack.restart("registration-api")
        stack.wait_ready("registration")

    killed = run_load(stack, base, members, lambda: stack.kill("registration-api", signal.SIGKILL), restart)
    print(f"api killed: {dict(killed)}")
    # Nothing but answers and refused connections: never a 500.
    assert {status for status in killed if isinstance(status, int)} <= {200, 412}, dict(killed)
    edits = assert_nothing_half_written(database, members, before)

    outage = DatabaseOutage(test_databases, database.engine.url.database if database.is_sqlite else None)
    dropped = run_load(stack, base, members, outage.start, outage.end)
    print(f"database dropped: {dict(dropped)}")
    assert {status for status in dropped if isinstance(status, int)} <= {200, 412, 503}, dict(dropped)
    assert dropped[503] > 0, f"no PATCH met the outage: {dict(dropped)}"
    assert assert_nothing_half_written(database, members, before) > edits
