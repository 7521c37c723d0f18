"""Tasks read queries, on read-only sessions: they return objects shaped like the response
schemas (schemas.py dumps them as they are)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.orm import Session

from services.tasks import access, domain
from services.tasks.domain import CLAIMABLE, IN_PROGRESS, LIVE, OPEN
from services.tasks.models import Award, Evaluation, Progress, Task
from services.tasks.repositories import ClaimRepository, TaskRepository
from services.tasks.unit_of_work import TaskReads
from shared.auth import Principal
from shared.clock import local_today, quarter_of
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.orgs import OrgInfo
from shared.pagination import decode_cursor, encode_cursor
from shared.sql_paths import segment_after

if TYPE_CHECKING:
    from services.tasks.unit_of_work import TasksDeps


@dataclass(frozen=True)
class TaskFilter:
    """`GET /tasks`: the caller's scope, narrowed by these."""

    limit: int
    cursor: str | None = None
    status: str | None = None
    org: str | None = None
    overdue: bool | None = None
    claimable: bool | None = None
    category: str | None = None


@dataclass(frozen=True)
class RankingQuery:
    """`GET /points`: a subtree's quarter (default: this quarter in China)."""

    org: str
    limit: int
    cursor: str | None = None
    quarter: str | None = None


@dataclass(frozen=True)
class TaskSummary:
    id: str
    title: str
    description: str
    org_code: str
    county_code: str | None
    category: str
    capacity: int
    claimed: int
    points: int
    due_on: date
    status: str
    overdue: bool
    claimable: bool
    in_open_hall: bool
    officer_id: str
    lead_member_id: str | None
    progress_percent: int
    summary: str | None
    created_at: datetime
    published_at: datetime | None
    completed_at: datetime | None
    evaluated_at: datetime | None

    @classmethod
    def fields_of(cls, task: Task, today: date) -> dict[str, Any]:
        """The summary's fields, taken from the row (and the derived ones computed)."""
        derived = {
            "overdue": domain.is_overdue(task.status, task.due_on, today),
            "claimable": task.status in CLAIMABLE and task.claimed < task.capacity,
            "in_open_hall": task.hall_opened_at is not None,
            "progress_percent": task.progress,
        }
        stored = {name: getattr(task, name) for name in _STORED}
        return {**stored, **derived}

    @classmethod
    def of(cls, task: Task, today: date) -> TaskSummary:
        return cls(**cls.fields_of(task, today))


_DERIVED = ("overdue", "claimable", "in_open_hall", "progress_percent")
_STORED = tuple(name for name in TaskSummary.__dataclass_fields__ if name not in _DERIVED)


@dataclass(frozen=True)
class ClaimView:
    member_id: str
    lead: bool
    commitment: str | None
    claimed_at: datetime
    branch_code: str
    assigned_by: str | None


@dataclass(frozen=True)
class TaskDetail(TaskSummary):
    """One task with its claims, progress reports, evaluations and awards (rows as stored)."""

    claims: list[ClaimView]
    progress: list[Progress]
    evaluations: list[Evaluation]
    awards: list[Award]
    allowed_actions: list[str]


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


@dataclass(frozen=True)
class RankedMember:
    member_id: str
    points: int
    rank: int


@dataclass(frozen=True)
class TaskStats:
    org: str
    total: int
    by_status: dict[str, int]
    overdue: int
    completion_rate: float | None
    average_rating: float | None
    # Addition (issue 22): the same figures per child org (a county's townships), most tasks first.
    by_org: list[ChildTaskStats] = field(default_factory=list)


@dataclass(frozen=True)
class ChildTaskStats:
    org_code: str
    name: str
    total: int
    done: int
    offered: int
    overdue: int
    completion_rate: float | None


# --- one task ------------------------------------------------------------------------------


def task_view(deps: TasksDeps, actor: Principal, task: Task) -> TaskDetail:
    """The detail of a task a use case just changed (and authorized)."""
    with deps.database.reader() as session:
        return _detail(session, task, _allowed_actions(deps, session, actor, task))


def get_task(deps: TasksDeps, actor: Principal, task_id: str) -> TaskDetail:
    with deps.database.reader() as session:
        task = TaskRepository(session).get(task_id)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        if not access.officer_in_scope(actor, task):
            if actor.role not in ("member", "branch_secretary"):
                raise Forbidden("you may not read this task")
            is_claimant = actor.role == "member" and ClaimRepository(session).held(task.id, actor.sub)
            shown = task.status != domain.DRAFT and access.visible(task, access.branch_of(deps.orgs, actor))
            if not (is_claimant or shown):
                raise Forbidden("this task is not open to your branch")
        return _detail(session, task, _allowed_actions(deps, session, actor, task))


def _allowed_actions(deps: TasksDeps, session: Session, actor: Principal, task: Task) -> list[str]:
    """What the caller may do now: decided by the same rules the use cases apply."""
    standing = access.standing_of(deps.orgs, TaskReads.on(session, deps.max_led_open_tasks), actor, task)
    return domain.allowed_actions(standing)


def _detail(session: Session, task: Task, allowed_actions: list[str]) -> TaskDetail:
    claims = [
        ClaimView(
            member_id=claim.member_id,
            lead=claim.member_id == task.lead_member_id,
            commitment=claim.commitment,
            claimed_at=claim.claimed_at,
            branch_code=claim.branch_code,
            assigned_by=claim.assigned_by,
        )
        for claim in ClaimRepository(session).of_task(task.id)
    ]
    progress = select(Progress).where(Progress.task_id == task.id).order_by(Progress.reported_at, Progress.id)
    evaluations = select(Evaluation).where(Evaluation.task_id == task.id).order_by(Evaluation.id)
    awards = select(Award).where(Award.task_id == task.id).order_by(Award.id)
    detail = TaskDetail(
        **TaskSummary.fields_of(task, local_today()),
        claims=claims,
        progress=list(session.scalars(progress)),
        evaluations=list(session.scalars(evaluations)),
        awards=list(session.scalars(awards)),
        allowed_actions=allowed_actions,
    )
    # The rows leave the session whole: the reader's closing rollback would expire them.
    session.expunge_all()
    return detail


# --- lists and stats -------------------------------------------------------------------------


def list_tasks(deps: TasksDeps, actor: Principal, query: TaskFilter) -> Page:
    """Tasks in the caller's scope, newest first: an officer's subtree, or those open to a
    member's branch."""
    today = local_today()
    conditions = [*_scope(deps, actor, query.org), *_filters(query, today)]
    after = decode_cursor(query.cursor)
    if after:
        conditions.append(Task.id < str(after[0]))
    limit = query.limit
    with deps.database.reader() as session:
        rows = session.scalars(
            select(Task).where(*conditions).order_by(Task.id.desc()).limit(limit + 1)
        ).all()
        # Inside the session: the reader's closing rollback expires what it loaded.
        items = [TaskSummary.of(task, today) for task in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


def _scope(deps: TasksDeps, actor: Principal, org_code: str | None) -> list[Any]:
    conditions: list[Any] = []
    subtree = access.subtree_org(deps.orgs, actor, org_code)
    if actor.role in access.OFFICER_ROLES:
        subtree = subtree or access.org_of(deps.orgs, actor.org, "org", "query")
    elif actor.role in ("member", "branch_secretary"):
        branch = access.branch_of(deps.orgs, actor)
        conditions.append(Task.status != domain.DRAFT)
        conditions.append(
            or_(
                Task.org_code.in_(branch.path),
                and_(Task.hall_opened_at.is_not(None), Task.county_code.in_(branch.path)),
            )
        )
    elif not (actor.is_admin or actor.is_service):
        raise Forbidden(f"role {actor.role} may not list tasks")
    if subtree is not None:
        conditions.append(_in_subtree(subtree))
    return conditions


def _filters(query: TaskFilter, today: date) -> list[Any]:
    conditions: list[Any] = []
    if query.status:
        conditions.append(Task.status == query.status)
    if query.category:
        conditions.append(Task.category == query.category)
    overdue = and_(Task.status.in_(LIVE), Task.due_on < today)
    if query.overdue is not None:
        conditions.append(overdue if query.overdue else not_(overdue))
    claimable = and_(Task.status.in_(CLAIMABLE), Task.claimed < Task.capacity)
    if query.claimable is not None:
        conditions.append(claimable if query.claimable else not_(claimable))
    return conditions


def _in_subtree(info: OrgInfo) -> Any:
    """Tasks under `info`. Tasks sit at townships, so a township or county subtree is an
    equality on an indexed column that also yields the newest-first order; higher up, a
    materialised path prefix (org codes are [A-Z0-9-]: the prefix needs no LIKE escaping)."""
    if info.level == "township":
        return Task.org_code == info.code
    if info.level == "county":
        return Task.county_code == info.code
    return Task.org_path.like(domain.scope_prefix(info.path) + "%")


def task_stats(deps: TasksDeps, actor: Principal, org_code: str) -> TaskStats:
    """Counts by status, overdue, completion rate and average rating of a subtree."""
    info = access.org_of(deps.orgs, org_code, "org", "query")
    access.require_stats_reader(actor, info)
    in_subtree = _in_subtree(info)
    overdue_case = case((and_(Task.status.in_(LIVE), Task.due_on < local_today()), 1), else_=0)
    by_status = {status: 0 for status in domain.STATUSES}
    overdue = 0
    with deps.database.reader() as session:
        rows = session.execute(
            select(Task.status, func.count(), func.sum(overdue_case)).where(in_subtree).group_by(Task.status)
        ).all()
        average = session.scalar(
            select(func.avg(Evaluation.rating)).join(Task, Task.id == Evaluation.task_id).where(in_subtree)
        )
        child = segment_after(Task.org_path, domain.scope_prefix(info.path))
        per_child = session.execute(
            select(child, Task.status, func.count(), func.sum(overdue_case))
            .where(in_subtree)
            .group_by(child, Task.status)
        ).all()
    for status, count, overdue_count in rows:
        by_status[status] = count
        overdue += int(overdue_count or 0)
    return TaskStats(
        org=info.code,
        total=sum(by_status.values()),
        by_status=by_status,
        overdue=overdue,
        completion_rate=_completion(by_status),
        average_rating=round(float(average), 2) if average is not None else None,
        by_org=_per_child(deps, per_child),
    )


def _completion(by_status: dict[str, int]) -> float | None:
    done = by_status.get(domain.COMPLETED, 0) + by_status.get(domain.EVALUATED, 0)
    # Drafts were never offered and cancelled tasks were withdrawn: neither counts as undone.
    offered = done + by_status.get(OPEN, 0) + by_status.get(IN_PROGRESS, 0)
    return round(done / offered, 4) if offered else None


def _per_child(deps: TasksDeps, rows: Sequence[Any]) -> list[ChildTaskStats]:
    """Completion per child org; a township's own tasks have no child and are left out."""
    statuses: dict[str, dict[str, int]] = {}
    overdue: dict[str, int] = {}
    for code, status, count, overdue_count in rows:
        if not code:
            continue
        statuses.setdefault(code, {})[status] = int(count)
        overdue[code] = overdue.get(code, 0) + int(overdue_count or 0)
    children = []
    for code, counts in statuses.items():
        done = counts.get(domain.COMPLETED, 0) + counts.get(domain.EVALUATED, 0)
        info = deps.orgs.get(code)
        children.append(
            ChildTaskStats(
                org_code=code,
                name=info.name if info else "",
                total=sum(counts.values()),
                done=done,
                offered=done + counts.get(OPEN, 0) + counts.get(IN_PROGRESS, 0),
                overdue=overdue[code],
                completion_rate=_completion(counts),
            )
        )
    return sorted(children, key=lambda child: (-child.total, child.org_code))


# --- points ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RankCursor:
    """Where the previous page ended: its last total and member, rank and position."""

    points: int | None = None
    member_id: str = ""
    rank: int = 0
    position: int = 0


def points_ranking(deps: TasksDeps, actor: Principal, query: RankingQuery) -> Page:
    """The quarter's points ranking of a subtree, highest first (competition ranking: 1, 2, 2, 4)."""
    info = access.org_of(deps.orgs, query.org, "org", "query")
    access.require_reader_of(deps.orgs, actor, info)
    quarter = query.quarter or quarter_of(local_today())
    try:
        domain.parse_quarter(quarter)
    except InvalidInput as error:
        error.location = "query"  # the rule is the domain's; where the field came from is ours
        raise
    after = _rank_cursor(query.cursor)
    total = func.sum(Award.points).label("total")
    statement = (
        select(Award.member_id, total)
        .where(Award.quarter == quarter, Award.branch_path.like(domain.scope_prefix(info.path) + "%"))
        .group_by(Award.member_id)
        .order_by(total.desc(), Award.member_id)
        .limit(query.limit + 1)
    )
    if after.points is not None:
        statement = statement.having(
            or_(total < after.points, and_(total == after.points, Award.member_id > after.member_id))
        )
    with deps.database.reader() as session:
        rows = session.execute(statement).all()
    return _ranked_page(rows, query.limit, after)


@dataclass(frozen=True)
class MyPoints:
    """`GET /points/me`: the caller's points by quarter (newest first) and in total."""

    member_id: str
    total: int
    quarters: list[dict[str, Any]]


def my_points(deps: TasksDeps, actor: Principal) -> MyPoints:
    total = func.sum(Award.points).label("total")
    statement = (
        select(Award.quarter, total)
        .where(Award.member_id == actor.sub)
        .group_by(Award.quarter)
        .order_by(Award.quarter.desc())
    )
    with deps.database.reader() as session:
        rows = session.execute(statement).all()
    by_quarter = [(str(quarter), int(points)) for quarter, points in rows]
    quarters: list[dict[str, Any]] = [{"quarter": q, "points": p} for q, p in by_quarter]
    return MyPoints(actor.sub, sum(points for _, points in by_quarter), quarters)


def _rank_cursor(cursor: str | None) -> _RankCursor:
    after = decode_cursor(cursor, arity=4)
    if not after:
        return _RankCursor()
    try:
        return _RankCursor(int(after[0]), str(after[1]), int(after[2]), int(after[3]))
    except (TypeError, ValueError) as error:
        raise InvalidInput(
            "cursor is not one this server issued", field="cursor", location="query"
        ) from error


def _ranked_page(rows: Any, limit: int, after: _RankCursor) -> Page:
    position, rank, last_points = after.position, after.rank, after.points
    items: list[RankedMember] = []
    for member_id, total in rows[:limit]:
        position += 1
        points = int(total)
        if points != last_points:
            rank = position
        last_points = points
        items.append(RankedMember(member_id=member_id, points=points, rank=rank))
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        next_cursor = encode_cursor(last.points, last.member_id, last.rank, position)
    return Page(items=items, next_cursor=next_cursor)
