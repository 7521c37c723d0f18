"""shared.db.write_together on the test database: all the writes or none of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError

from services.tasks.models import audit_log, outbox
from shared import audit
from shared.auth import Principal
from shared.db import PendingUpdate, new_id, table_of, write_together
from tests.support.builders import unique_code

WHO = Principal("tester", "admin", "CN")


@contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    """The SQL of every statement sent on `engine` inside the block."""
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def counts(database, subject: str) -> tuple[int, int]:
    with database.reader() as session:
        events = session.scalar(select(func.count()).where(outbox.table.c.subject == subject))
        audits = session.scalar(select(func.count()).where(audit_log.c.object_id == subject))
        return events, audits


def test_the_inserts_land_together_or_not_at_all(migrated):
    database = migrated("tasks")
    subject = unique_code("T")
    audit_id = new_id()
    data = {
        **{"task_id": subject, "title": "t", "org_code": "TO", "officer_id": "o", "status": "open"},
        **{"category": "c", "capacity": 3, "due_on": "2026-12-31", "points": 10},
    }

    def bundle(audit_row_id: str) -> list:
        entry = audit.pending(audit_log, WHO, "publish", "task", subject)
        entry.values["id"] = audit_row_id  # a chosen id, so that a second bundle can collide
        return [outbox.pending("tasks.task_published.v1", subject, data), entry]

    with statements_on(database.engine) as statements, database.transaction() as session:
        write_together(session, bundle(audit_id))
    assert counts(database, subject) == (1, 1)
    inserts = [sql for sql in statements if "INSERT" in sql]
    # One round trip on PostgreSQL (a WITH clause); one statement per row elsewhere.
    assert len(inserts) == (1 if database.engine.dialect.name == "postgresql" else 2), inserts

    # The second bundle's audit row collides on its primary key: its event must not land either.
    with pytest.raises(IntegrityError), database.transaction() as session:
        write_together(session, bundle(audit_id))
    assert counts(database, subject) == (1, 1)


def test_an_update_by_key_lands_with_the_inserts_and_counts_in_sql(migrated):
    """A row changed by its key goes in the same statement on PostgreSQL: its `increments`
    count up from what is stored (not from a value read), and a failing insert beside it
    undoes it as well."""
    from services.tasks.models import MemberLeads

    database = migrated("tasks")
    leads = table_of(MemberLeads)
    member_id = unique_code("M")
    with database.transaction() as session:
        session.execute(leads.insert(), {"member_id": member_id, "leading": 1})
    subject = unique_code("T")
    audit_id = new_id()

    def bundle(audit_row_id: str) -> list:
        entry = audit.pending(audit_log, WHO, "claim", "task", subject)
        entry.values["id"] = audit_row_id
        change = PendingUpdate(leads, {"member_id": member_id}, {}, increments=("leading",))
        return [entry, change]

    with statements_on(database.engine) as statements, database.transaction() as session:
        write_together(session, bundle(audit_id))
        write_together(session, [PendingUpdate(leads, {"member_id": member_id}, {"leading": 5})])
        write_together(session, [PendingUpdate(leads, {"member_id": member_id}, {}, ("leading",))])
    with database.reader() as session:
        assert session.scalar(select(leads.c.leading).where(leads.c.member_id == member_id)) == 6
    writes = [sql for sql in statements if "INSERT" in sql or "UPDATE" in sql]
    together = 1 if database.engine.dialect.name == "postgresql" else 2
    assert len(writes) == together + 2, writes

    # The audit row collides on its primary key: the update beside it must not land either.
    with pytest.raises(IntegrityError), database.transaction() as session:
        write_together(session, bundle(audit_id))
    with database.reader() as session:
        assert session.scalar(select(leads.c.leading).where(leads.c.member_id == member_id)) == 6
