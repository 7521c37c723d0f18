"""shared.db.insert_together on the test database: all the INSERTs or none of them."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from services.tasks.models import audit_log, outbox
from shared import audit
from shared.auth import Principal
from shared.db import insert_together, new_id
from tests.support.builders import unique_code

WHO = Principal("tester", "admin", "CN")


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

    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute)
    event.listen(database.engine, "before_cursor_execute", listener)
    try:
        with database.transaction() as session:
            insert_together(session, bundle(audit_id))
    finally:
        event.remove(database.engine, "before_cursor_execute", listener)
    assert counts(database, subject) == (1, 1)
    inserts = [sql for sql in statements if "INSERT" in sql]
    # One round trip on PostgreSQL (a WITH clause); one statement per row elsewhere.
    assert len(inserts) == (1 if database.engine.dialect.name == "postgresql" else 2), inserts

    # The second bundle's audit row collides on its primary key: its event must not land either.
    with pytest.raises(IntegrityError), database.transaction() as session:
        insert_together(session, bundle(audit_id))
    assert counts(database, subject) == (1, 1)
