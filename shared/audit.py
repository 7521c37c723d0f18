"""The audit log: who read full personal data, and who changed what. Never holds the data itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Index, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import PendingInsert, UTCDateTime, new_id, utcnow
from shared.errors import Forbidden
from shared.logging import current_request_id
from shared.pagination import decode_cursor, encode_cursor, page


@dataclass(frozen=True)
class OrgScope:
    """The org an audit entry is about: its code and materialized path "/CN/.../CODE/"."""

    code: str
    path: str


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
        # The org the entry is about and its path "/CN/.../CODE/": the audit reader's scope.
        Column("org_code", String(40), nullable=True),
        Column("org_path", String(500), nullable=True),
        Index("ix_audit_object", "object_type", "object_id"),
        Index("ix_audit_at", "at"),
    )


def pending(
    table: Table,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    detail: str | None = None,
    org: OrgScope | None = None,
) -> PendingInsert:
    """The row that `record` writes, for a use case to write together with its others
    (shared.db.write_together)."""
    return PendingInsert(
        table, row(actor.sub, actor.role, action, object_type, object_id, current_request_id(), detail, org)
    )


def record(
    session: Session,
    table: Table,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    detail: str | None = None,
    org: OrgScope | None = None,
) -> None:
    """Audit an action of the current request's caller."""
    write(
        session, table, actor.sub, actor.role, action, object_type, object_id, current_request_id(), detail, org
    )


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
    org: OrgScope | None = None,
) -> None:
    """Audit an action on behalf of a caller named explicitly (e.g. by a worker applying it)."""
    # Values as parameters, not .values(): the statement then compiles once per table.
    session.execute(
        table.insert(), row(actor, actor_role, action, object_type, object_id, request_id, detail, org)
    )


def row(
    actor: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str,
    request_id: str | None,
    detail: str | None,
    org: OrgScope | None = None,
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
        "org_code": org.code if org else None,
        "org_path": org.path if org else None,
    }


# --- the reader (GET /api/v1/audit in every service: shared.web.audit) --------------------


@dataclass(frozen=True)
class AuditQuery:
    limit: int
    cursor: str | None = None
    org: str | None = None
    member_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# What a reader sees of an entry: who, what, on which object, about which org. The free-text
# `detail` is left out (it may name a file, a letter number or a count), so is the path.
READER_COLUMNS = ("id", "at", "actor", "actor_role", "action", "object_type", "object_id", "org_code", "request_id")


def _within(table: Table, org_code: str) -> ColumnElement[bool]:
    # Paths are "/CN/.../CODE/" and codes are unique: an org's subtree is every path naming it.
    # (A containment match, as services other than registration do not hold the org tree.)
    escaped = org_code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return table.c.org_path.like(f"%/{escaped}/%", escape="\\")


def read_entries(connection: Connection, table: Table, reader: Principal, query: AuditQuery) -> dict[str, Any]:
    """A page of audit entries, newest first: an admin reads all, an org department the
    entries about its subtree (entries about no org are the admin's alone)."""
    if reader.role == "org_department":
        conditions: list[ColumnElement[bool]] = [_within(table, reader.org)]
    elif reader.role == "admin":
        conditions = []
    else:
        raise Forbidden(f"role {reader.role} may not read the audit log")
    if query.org:
        conditions.append(_within(table, query.org))
    if query.member_id:
        conditions += [table.c.object_type == "member", table.c.object_id == query.member_id]
    if query.actor:
        conditions.append(table.c.actor == query.actor)
    if query.action:
        conditions.append(table.c.action == query.action)
    if query.since:
        conditions.append(table.c.at >= query.since)
    if query.until:
        conditions.append(table.c.at < query.until)
    after = decode_cursor(query.cursor)
    if after:
        conditions.append(table.c.id < after[0])
    statement = (
        select(*(table.c[name] for name in READER_COLUMNS))
        .where(*conditions)
        .order_by(table.c.id.desc())
        .limit(query.limit + 1)
    )
    rows = [dict(row._mapping) for row in connection.execute(statement)]
    return page(rows, query.limit, key=lambda row: (row["id"],))


def cursor_after(entry_id: str) -> str:
    """The reader's cursor for the entries older than `entry_id` (the `next_cursor` a page ending
    with that entry carries): a reader merging several services' logs resumes each where its
    merged page stopped (the console's audit page)."""
    return encode_cursor(entry_id)
