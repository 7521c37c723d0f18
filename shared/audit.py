"""The audit log: who read full personal data, and who changed what. Never holds the data itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, MetaData, String, Table, Text
from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import PendingInsert, UTCDateTime, new_id, utcnow
from shared.logging import current_request_id


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", String(26), primary_key=True),
        Column("at", UTCDateTime(), nullable=False),
        Column("actor", String(80), nullable=False),
        Column("actor_role", String(40), nullable=False),
        Column("action", String(60), nullable=False),
        Column("object_type", String(40), nullable=False),
        Column("object_id", String(80), nullable=False),
        Column("request_id", String(64), nullable=True),
        Column("detail", Text, nullable=True),
        Index("ix_audit_object", "object_type", "object_id"),
    )


def pending(
    table: Table,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    detail: str | None = None,
) -> PendingInsert:
    """The row that `record` writes, for a use case to write together with its others
    (shared.db.insert_together)."""
    return PendingInsert(
        table, row(actor.sub, actor.role, action, object_type, object_id, current_request_id(), detail)
    )


def record(
    session: Session,
    table: Table,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    detail: str | None = None,
) -> None:
    """Audit an action of the current request's caller."""
    write(session, table, actor.sub, actor.role, action, object_type, object_id, current_request_id(), detail)


def write(
    session: Session,
    table: Table,
    actor: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str,
    request_id: str | None,
    detail: str | None = None,
) -> None:
    """Audit an action on behalf of a caller named explicitly (e.g. by a worker applying it)."""
    # Values as parameters, not .values(): the statement then compiles once per table.
    session.execute(
        table.insert(), row(actor, actor_role, action, object_type, object_id, request_id, detail)
    )


def row(
    actor: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str,
    request_id: str | None,
    detail: str | None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "at": utcnow(),
        "actor": actor,
        "actor_role": actor_role,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "request_id": request_id,
        "detail": detail,
    }
