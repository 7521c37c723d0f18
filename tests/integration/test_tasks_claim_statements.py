"""A claim through the tasks unit of work, statement by statement, on the test database.

The claim row, its event and its audit entry are written at commit as ONE statement on
PostgreSQL (shared.db.write_together through uow.write_with_commit): the measured win of the
claim path. A refused claim writes none of them.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from services.tasks import commands
from services.tasks.models import Claim, audit_log, outbox
from services.tasks.unit_of_work import TasksUnitOfWork
from shared.auth import Principal
from shared.clock import local_today
from shared.errors import Conflict
from shared.orgs import OrgInfo


class Orgs:
    def __init__(self, tag: str) -> None:
        self.township, self.branch = f"ST-{tag}", f"SB-{tag}"
        township_path = ("CN", f"SC-{tag}", self.township)
        self.infos = {
            self.township: OrgInfo(self.township, "t", "township", township_path[-2], township_path),
            self.branch: OrgInfo(self.branch, "b", "branch", self.township, (*township_path, self.branch)),
        }

    def get(self, code: str) -> OrgInfo | None:
        return self.infos.get(code)


@pytest.fixture
def claiming(migrated):
    database = migrated("tasks")
    orgs = Orgs(secrets.token_hex(3).upper())
    officer = Principal(f"officer-{orgs.township}", "township_officer", orgs.township)

    def uow() -> TasksUnitOfWork:
        return TasksUnitOfWork(database, orgs=orgs, max_led_open_tasks=5)

    create = commands.CreateTask("t", "d", orgs.township, "c", local_today() + timedelta(days=3), capacity=1)
    task = commands.create_task(uow(), officer, create)
    commands.publish_task(uow(), officer, commands.PublishTask(task.id))
    return database, uow, task.id, orgs


def inserts_during(database, action) -> list[str]:
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute)
    event.listen(database.engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        event.remove(database.engine, "before_cursor_execute", listener)
    return [sql for sql in statements if sql.lstrip().upper().startswith(("INSERT", "WITH"))]


def written_for(database, task_id: str) -> tuple[int, int, int]:
    with database.reader() as session:
        claims = session.scalar(select(func.count()).where(Claim.task_id == task_id))
        events = session.scalar(select(func.count()).where(outbox.table.c.subject == task_id))
        audits = session.scalar(select(func.count()).where(audit_log.c.object_id == task_id))
    return claims, events, audits


def test_a_claim_writes_its_row_event_and_audit_together(claiming):
    database, uow, task_id, orgs = claiming
    before = written_for(database, task_id)
    member = Principal(f"m-{secrets.token_hex(3)}", "member", orgs.branch)
    placed: list[commands.ClaimPlaced] = []
    inserts = inserts_during(
        database,
        lambda: placed.append(commands.claim_task(uow(), member, commands.ClaimTask(task_id, "我来"))),
    )
    assert placed[0].lead
    assert written_for(database, task_id) == (before[0] + 1, before[1] + 1, before[2] + 1)
    # The lead's count (member_leads) is its own upsert; the claim, event and audit go together.
    together = [sql for sql in inserts if "member_leads" not in sql]
    if database.engine.dialect.name == "postgresql":
        assert len(together) == 1, together
        assert all(table in together[0] for table in ("claims", "outbox", "audit_log"))
    else:
        assert len(together) == 3, together


def test_a_refused_claim_writes_nothing(claiming):
    database, uow, task_id, orgs = claiming
    first = Principal(f"m-{secrets.token_hex(3)}", "member", orgs.branch)
    commands.claim_task(uow(), first, commands.ClaimTask(task_id, "我来"))
    before = written_for(database, task_id)
    late = Principal(f"m-{secrets.token_hex(3)}", "member", orgs.branch)
    with pytest.raises(Conflict, match="is full"):
        commands.claim_task(uow(), late, commands.ClaimTask(task_id, "我也来"))
    assert written_for(database, task_id) == before
