"""Transfer reads: one transfer with its timeline, the boxes, the dashboard counts.

Reads go to `database.snapshot()` (prebuilt statements on a plain connection: every decision
reads its transfer after the update) or `database.reader()` (the lists and counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    union,
)
from sqlalchemy.orm import aliased

from services.transfer import domain
from services.transfer.models import TimelineEntry, Transfer, TransferStage, Urge
from shared import metrics
from shared.auth import ORG_ROLES, Principal
from shared.clock import local_today
from shared.db import Database, utcnow
from shared.errors import Forbidden, InvalidInput, NotFound, Unavailable
from shared.orgs import OrgDirectory
from shared.pagination import decode_cursor, page
from shared.sql_paths import segment_after


@dataclass(frozen=True)
class ListQuery:
    """`GET /transfers`: which box, whose, and the page."""

    box: str
    limit: int
    org: str | None = None
    scope: str = "org"
    status: str | None = None
    cursor: str | None = None


# A Transfer, or a row of its table: the view and the checks read columns by name.
Projection = Transfer | Row[Any]


def transfer_view(transfer: Projection, timeline: Sequence[Any] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": transfer.id,
        "member_id": transfer.member_id,
        "member_name": transfer.member_name,
        "from_branch_code": transfer.from_branch_code,
        "to_branch_code": transfer.to_branch_code,
        "route": transfer.route,
        "status": transfer.status,
        "reason": transfer.reason,
        "applicant": transfer.applicant,
        "current_stage": {
            "name": transfer.current_stage,
            "org_code": transfer.current_stage_org,
            "due_at": transfer.due_at,
            "overdue": transfer.overdue,
        }
        if transfer.current_stage
        else None,
        "letter": {
            "number": transfer.letter_number,
            "issued_on": transfer.letter_issued_on,
            "valid_until": transfer.letter_valid_until,
            "dues_paid_through": transfer.letter_dues_paid_through,
        }
        if transfer.letter_number
        else None,
        "failure_reason": transfer.failure_reason,
        "receipt_at": transfer.receipt_at,
        "created_at": transfer.created_at,
        "updated_at": transfer.updated_at,
    }
    if timeline is not None:
        view["timeline"] = [
            {
                "at": e.at,
                "stage": e.stage,
                "org_code": e.org_code,
                "actor": e.actor,
                "action": e.action,
                "reason": e.reason,
                "acted_for_org_code": e.acted_for_org_code,
                "note": e.note,
            }
            for e in timeline
        ]
    return view


# Built once: every decision reads its transfer before and after, and building a statement costs
# SQLAlchemy more than running it (see projection.StepStatements).
_TRANSFERS = Transfer.__table__
_TIMELINE = TimelineEntry.__table__
_READ_TRANSFER = select(_TRANSFERS).where(_TRANSFERS.c.id == bindparam("b_id"))
_READ_TIMELINE = (
    select(_TIMELINE).where(_TIMELINE.c.transfer_id == bindparam("b_id")).order_by(_TIMELINE.c.id)
)


def _row(connection: Connection, transfer_id: str) -> Row[Any]:
    row = connection.execute(_READ_TRANSFER, {"b_id": transfer_id}).first()
    if row is None:
        raise NotFound(f"transfer {transfer_id} does not exist")
    return row


def current_row(database: Database, transfer_id: str) -> Row[Any]:
    """The projection row as it stands, for the checks before a workflow update."""
    with database.snapshot() as connection:
        return _row(connection, transfer_id)


_STAGES = TransferStage.__table__
_URGES = Urge.__table__
_READ_CHAIN_ORGS = select(_STAGES.c.org_code).where(_STAGES.c.transfer_id == bindparam("b_id"))
_READ_URGE = select(_URGES.c.urged_at).where(
    _URGES.c.transfer_id == bindparam("b_id"),
    _URGES.c.stage == bindparam("b_stage"),
    _URGES.c.actor == bindparam("b_actor"),
)


def _chain_orgs(connection: Connection, transfer_id: str) -> frozenset[str]:
    return frozenset(connection.execute(_READ_CHAIN_ORGS, {"b_id": transfer_id}).scalars())


def current_with_chain(database: Database, transfer_id: str) -> tuple[Row[Any], frozenset[str]]:
    """The projection row and the orgs holding a stage of its current plan, for the rules."""
    with database.snapshot() as connection:
        return _row(connection, transfer_id), _chain_orgs(connection, transfer_id)


def _last_urge(connection: Connection, transfer_id: str, stage: str | None, actor: str) -> datetime | None:
    if stage is None:
        return None
    found = connection.execute(_READ_URGE, {"b_id": transfer_id, "b_stage": stage, "b_actor": actor})
    return found.scalar_one_or_none()


def last_urge(database: Database, transfer_id: str, stage: str, actor: str) -> datetime | None:
    with database.snapshot() as connection:
        return _last_urge(connection, transfer_id, stage, actor)


def full_view(database: Database, transfer_id: str) -> dict[str, Any]:
    """The transfer as a use case left it, for its answer (the caller was authorised there)."""
    with database.snapshot() as connection:
        return _view_with_timeline(connection, _row(connection, transfer_id))


def _view_with_timeline(connection: Connection, transfer: Row[Any]) -> dict[str, Any]:
    timeline = connection.execute(_READ_TIMELINE, {"b_id": transfer.id}).all()
    return transfer_view(transfer, timeline)


def facts_of(
    transfer: Any,
    chain_orgs: frozenset[str],
    now: datetime,
    dues_months_behind: int | None = None,
    urged_at: datetime | None = None,
) -> domain.TransferFacts:
    """What the rules (domain.permission) read of a projection row, and of what the caller
    looked up besides."""
    return domain.TransferFacts(
        member_id=transfer.member_id,
        applicant=transfer.applicant,
        from_branch_code=transfer.from_branch_code,
        to_branch_code=transfer.to_branch_code,
        from_path=transfer.from_path,
        to_path=transfer.to_path,
        status=transfer.status,
        stage=transfer.current_stage,
        stage_org=transfer.current_stage_org,
        stage_path=transfer.current_stage_path,
        overdue=domain.is_overdue(bool(transfer.overdue), transfer.due_at, now),
        chain_orgs=chain_orgs,
        dues_months_behind=dues_months_behind,
        urged_at=urged_at,
    )


class MemberReader(Protocol):
    def member(self, member_id: str) -> Any: ...


def get(
    database: Database, principal: Principal, transfer_id: str, members: MemberReader | None = None
) -> dict[str, Any]:
    """One transfer as its reader sees it: with the approver's summary of the member (masked,
    from registration) and what the caller may do now (by the rules that authorize it)."""
    with database.snapshot() as connection:
        transfer = _row(connection, transfer_id)
        if not in_scope(principal, transfer):
            raise Forbidden("this transfer is outside your scope")
        view = _view_with_timeline(connection, transfer)  # the same snapshot: one read, not two
        chain_orgs = _chain_orgs(connection, transfer.id)
        urged_at = _last_urge(connection, transfer.id, transfer.current_stage, principal.sub)
    now = utcnow()
    summary = _member_summary(members, transfer.member_id, now) if members is not None else None
    view["member"] = summary
    behind = summary["dues_months_behind"] if summary else None
    facts = facts_of(transfer, chain_orgs, now, behind, urged_at)
    caller = domain.Caller(principal.sub, principal.role, principal.org)
    view["allowed_actions"] = domain.allowed_actions(caller, facts, now)
    return view


def _member_summary(members: MemberReader, member_id: str, now: datetime) -> dict[str, Any] | None:
    """name, gender, status, birth year, joined, dues (and months behind, China time); None while
    registration cannot answer: the transfer is still shown."""
    try:
        member = members.member(member_id)
    except (Unavailable, InvalidInput):
        return None
    return {
        "name": member.name,
        "gender": member.gender,
        "status": member.status,
        "birth_year": member.birth_year,
        "joined_on": member.joined_on,
        "dues_paid_through": member.dues_paid_through,
        "dues_months_behind": domain.months_behind(member.dues_paid_through, local_today(now)),
    }


# --- who may read what -------------------------------------------------------------------


def in_scope(principal: Principal, transfer: Projection) -> bool:
    if principal.is_admin or principal.is_service:
        return True
    if principal.role == "member":
        return principal.sub == transfer.member_id
    mark = f"/{principal.org}/"
    return principal.role in ORG_ROLES and (mark in transfer.from_path or mark in transfer.to_path)


# --- lists and counts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose boxes are read: one org, or (with `path`) every org at or under it."""

    org: str
    path: str | None = None


def _box_org(orgs: OrgDirectory, principal: Principal, org: str | None) -> str:
    """The org whose boxes are read: the caller's own, or one in its subtree (admin: any)."""
    if org is None or org == principal.org:
        return principal.org
    if principal.is_admin or principal.is_service:
        return org
    if principal.role in ORG_ROLES and orgs.in_subtree(org, principal.org):
        return org
    raise Forbidden(f"{org} is outside your scope")


def _subtree(orgs: OrgDirectory, org: str) -> Scope:
    """The subtree scope of `org`, from its materialized path in registration (cached there).

    An org registration does not know is on no transfer's path: only rows naming it count."""
    info = orgs.get(org)
    return Scope(org, "/" + "/".join(info.path) + "/" if info else None)


def _under(column: Any, path: str) -> ColumnElement[bool]:
    low, high = domain.subtree_range(path)
    return and_(column >= low, column < high)


def _not(condition: ColumnElement[bool], column: Any) -> ColumnElement[bool]:
    # NOT over a NULL column is NULL, which would drop the row: say what NULL means here.
    return or_(column.is_(None), not_(condition))


def _on_timeline(org: str) -> ColumnElement[bool]:
    return exists().where(TimelineEntry.transfer_id == Transfer.id, TimelineEntry.org_code == org)


def _holds(scope: Scope) -> ColumnElement[bool]:
    """The open stage is held by the scope's org (or, for a subtree, by one under it)."""
    if scope.path is None:
        return Transfer.current_stage_org == scope.org
    return _under(Transfer.current_stage_path, scope.path)


def _waiting_elsewhere(scope: Scope) -> ColumnElement[bool]:
    column = Transfer.current_stage_org if scope.path is None else Transfer.current_stage_path
    return _not(_holds(scope), column)


def _stage_held(scope: Scope) -> ColumnElement[bool]:
    if scope.path is None:
        return TransferStage.org_code == scope.org
    return _under(TransferStage.org_path, scope.path)


def _ahead(scope: Scope) -> ColumnElement[bool]:
    """A stage of the current plan held within the scope and not decided yet (IN, like _acted:
    SQLite drives a correlated EXISTS from a scan of transfers)."""
    ids = select(TransferStage.transfer_id).where(_stage_held(scope), TransferStage.decided_at.is_(None))
    return Transfer.id.in_(ids)


def _acted(scope: Scope) -> ColumnElement[bool]:
    """The scope has done its step: decided a stage of the current plan, or applied (a sending
    secretary). One IN over a UNION, so each half walks its own index (an OR scans the table)."""
    applicant = aliased(Transfer)
    sending = (
        applicant.from_branch_code == scope.org
        if scope.path is None
        else _under(applicant.from_path, scope.path)
    )
    ids = union(
        select(TransferStage.transfer_id).where(_stage_held(scope), TransferStage.decided_at.is_not(None)),
        # finished_at IS NULL (open) narrows the (from_path, finished_at) index range.
        select(applicant.id).where(
            sending, applicant.finished_at.is_(None), applicant.applicant_role == "branch_secretary"
        ),
    )
    return Transfer.id.in_(ids)


def _involved(scope: Scope) -> ColumnElement[bool]:
    if scope.path is None:
        org = scope.org
        return or_(_on_timeline(org), Transfer.from_branch_code == org, Transfer.to_branch_code == org)
    # Every stage holder sits on the sending path or is the receiving branch.
    return or_(_under(Transfer.from_path, scope.path), _under(Transfer.to_path, scope.path))


def _box_condition(principal: Principal, scope: Scope, box: str) -> ColumnElement[bool]:
    """The boxes are disjoint for an org: todo, then pending, then coming; done once finished."""
    finished = Transfer.status.in_(domain.TERMINAL)
    if principal.role == "member":
        mine = Transfer.member_id == principal.sub
        if box == "todo":
            return and_(mine, Transfer.status.in_((domain.RETURNED, domain.LETTER_ISSUED)))
        if box == "pending":
            return and_(mine, ~finished, Transfer.status.notin_((domain.RETURNED, domain.LETTER_ISSUED)))
        if box == "coming":
            return false()  # a member holds no stage
        return and_(mine, finished)
    if box == "todo":
        return _holds(scope)
    if box == "done":
        return and_(finished, _involved(scope))
    if box == "pending":
        return and_(~finished, _waiting_elsewhere(scope), _acted(scope))
    return and_(~finished, _waiting_elsewhere(scope), not_(_acted(scope)), _ahead(scope))


def list_transfers(
    database: Database, orgs: OrgDirectory, principal: Principal, query: ListQuery
) -> dict[str, Any]:
    org = _box_org(orgs, principal, query.org)
    subtree = query.scope == "subtree" and principal.role != "member"
    scope = _subtree(orgs, org) if subtree else Scope(org)
    after = decode_cursor(query.cursor)
    limit = query.limit
    with database.reader() as session:
        statement = select(Transfer).where(_box_condition(principal, scope, query.box))
        if query.status:
            statement = statement.where(Transfer.status == query.status)
        if after:
            statement = statement.where(Transfer.id < after[0])
        rows = session.scalars(statement.order_by(Transfer.id.desc()).limit(limit + 1)).all()
        result = page(rows, limit, key=lambda row: (row.id,))
        result["items"] = [transfer_view(row) for row in result["items"]]
        return result


# Every path starts at the root org; the code after it is the province.
ROOT_PATH = "/CN/"


def stats(database: Database, orgs: OrgDirectory, principal: Principal, org: str | None) -> dict[str, Any]:
    """A dashboard counts the org's whole subtree (a county sees its townships' stages)."""
    if principal.role == "member":
        raise Forbidden("members have no transfer dashboard")
    scope = _subtree(orgs, _box_org(orgs, principal, org))
    year_start = datetime(utcnow().year, 1, 1, tzinfo=UTC)
    completed_this_year = and_(Transfer.status == domain.COMPLETED, Transfer.finished_at >= year_start)
    if scope.path is None:
        arrived, left = Transfer.to_branch_code == scope.org, Transfer.from_branch_code == scope.org
    else:
        arrived, left = _under(Transfer.to_path, scope.path), _under(Transfer.from_path, scope.path)
    with database.reader() as session:

        def count(condition: ColumnElement[bool]) -> int:
            return session.scalar(select(func.count()).select_from(Transfer).where(condition)) or 0

        def by_province(condition: ColumnElement[bool], other_side: Any) -> list[dict[str, Any]]:
            # The other side's province is the code after the root in its path: one grouped
            # count over the side's (path, finished_at) index range.
            province = segment_after(other_side, ROOT_PATH)
            rows = session.execute(select(province, func.count()).where(condition).group_by(province)).all()
            return _named_counts(orgs, rows)

        overdue_rows = session.execute(
            select(Transfer.current_stage, func.count())
            .where(_holds(scope), Transfer.overdue.is_(True))
            .group_by(Transfer.current_stage)
        ).all()
        return {
            "todo": count(_holds(scope)),
            "overdue": count(and_(_holds(scope), Transfer.overdue.is_(True))),
            "in_this_year": count(and_(completed_this_year, arrived)),
            "out_this_year": count(and_(completed_this_year, left)),
            "pending": count(_box_condition(principal, scope, "pending")),
            "coming": count(_box_condition(principal, scope, "coming")),
            "overdue_by_stage": {stage: int(number) for stage, number in overdue_rows if stage},
            "in_by_province": by_province(and_(completed_this_year, arrived), Transfer.from_path),
            "out_by_province": by_province(and_(completed_this_year, left), Transfer.to_path),
        }


def _named_counts(orgs: OrgDirectory, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """`{code, name, count}` most first; the names from registration's org directory (cached)."""
    named = []
    for code, number in rows:
        if not code:
            continue
        info = orgs.get(code)
        named.append({"code": code, "name": info.name if info else "", "count": int(number)})
    return sorted(named, key=lambda item: (-item["count"], item["code"]))


def refresh_gauges(database: Database) -> None:
    """Open transfers by status, and those whose current stage is overdue, for the gauges."""
    with database.snapshot() as connection:
        counts = connection.execute(
            select(Transfer.status, func.count())
            .where(Transfer.status.not_in(domain.TERMINAL))
            .group_by(Transfer.status)
        ).all()
        overdue = connection.execute(
            select(func.count()).where(Transfer.status.not_in(domain.TERMINAL), Transfer.overdue.is_(True))
        ).scalar_one()
    seen = {status: count for status, count in counts}
    # Every open status is exported, at 0 too, so a dashboard's series never vanish.
    known = (*(f"pending_{stage}" for stage in domain.STAGES), domain.LETTER_ISSUED, domain.RETURNED)
    for status in (*known, *seen):
        metrics.TRANSFERS_OPEN.labels(status).set(seen.get(status, 0))
    metrics.TRANSFER_STAGES_OVERDUE.set(overdue)
