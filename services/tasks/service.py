"""Tasks use cases: one transaction each; load, apply the domain rules, save, add events.

Concurrency: capacity, the single claim per member, the lead cap and the once-only transitions
are enforced by conditional UPDATEs (checked by rowcount) and unique constraints, never by a
read followed by a write, so they hold on SQLite and PostgreSQL under any interleaving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, case, cast, delete, func, literal, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.tasks import domain
from services.tasks.domain import CLAIMABLE, IN_PROGRESS, LIVE, OPEN
from services.tasks.models import (
    Award,
    Claim,
    Evaluation,
    MemberLeads,
    Progress,
    Task,
    audit_log,
    outbox,
)
from shared import audit
from shared.auth import Principal
from shared.contracts import tasks as events
from shared.db import Database, PendingInsert, insert_together, new_id, utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from shared.orgs import OrgDirectory, OrgInfo, ServiceClient
from shared.pagination import decode_cursor, encode_cursor

OFFICER_ROLES = ("township_officer", "org_department")


@dataclass
class TasksDeps:
    """What the use cases need beyond their database: the org tree, members, and the limits."""

    database: Database
    orgs: OrgDirectory
    registration: ServiceClient
    max_led_open_tasks: int = 5


# --- org scope ----------------------------------------------------------------------------


def _org(deps: TasksDeps, code: str, field: str, location: str = "json") -> OrgInfo:
    info = deps.orgs.get(code)
    if info is None:
        raise InvalidInput(f"org {code} does not exist", field=field, location=location)
    return info


def _county_of(deps: TasksDeps, township: OrgInfo) -> str | None:
    """The nearest ancestor of level county: the open hall's reach."""
    for code in reversed(township.path[:-1]):
        ancestor = deps.orgs.get(code)
        if ancestor is not None and ancestor.level == "county":
            return ancestor.code
    return None


def _officer_in_scope(principal: Principal, task: Task) -> bool:
    if principal.is_admin or principal.is_service:
        return True
    return principal.role in OFFICER_ROLES and f"/{principal.org}/" in task.org_path


def _require_officer(principal: Principal, task: Task, what: str) -> None:
    if not _officer_in_scope(principal, task):
        raise Forbidden(f"{principal.role} of {principal.org} may not {what} outside its subtree")


def _branch_of(deps: TasksDeps, principal: Principal) -> OrgInfo:
    """A member's branch (the token's org), as registration knows it."""
    info = deps.orgs.get(principal.org)
    if info is None or info.level != "branch":
        raise Forbidden(f"your org {principal.org} is not a known branch")
    return info


def _visible(task: Task, branch: OrgInfo) -> bool:
    return domain.visible_to_branch(
        task.org_code, task.county_code, task.hall_opened_at is not None, branch.path
    )


def _load(session: Session, task_id: str, lock: bool = False) -> Task:
    task = session.get(Task, task_id, with_for_update=lock or None)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


# --- views and events ---------------------------------------------------------------------


def _today() -> date:
    return domain.local_today(utcnow())


def task_summary(task: Task, today: date) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "org_code": task.org_code,
        "county_code": task.county_code,
        "category": task.category,
        "capacity": task.capacity,
        "claimed": task.claimed,
        "points": task.points,
        "due_on": task.due_on,
        "status": task.status,
        "overdue": domain.is_overdue(task.status, task.due_on, today),
        "claimable": task.status in CLAIMABLE and task.claimed < task.capacity,
        "in_open_hall": task.hall_opened_at is not None,
        "officer_id": task.officer_id,
        "lead_member_id": task.lead_member_id,
        "progress_percent": task.progress,
        "summary": task.summary,
        "created_at": task.created_at,
        "published_at": task.published_at,
        "completed_at": task.completed_at,
        "evaluated_at": task.evaluated_at,
    }


def _claims(session: Session, task_id: str) -> list[Claim]:
    return list(
        session.scalars(select(Claim).where(Claim.task_id == task_id).order_by(Claim.claimed_at, Claim.id))
    )


def task_detail(session: Session, task: Task) -> dict[str, Any]:
    view = task_summary(task, _today())
    view["claims"] = [
        {
            "member_id": claim.member_id,
            "lead": claim.member_id == task.lead_member_id,
            "commitment": claim.commitment,
            "claimed_at": claim.claimed_at,
            "branch_code": claim.branch_code,
            "assigned_by": claim.assigned_by,
        }
        for claim in _claims(session, task.id)
    ]
    view["progress"] = [
        _progress_view(report)
        for report in session.scalars(
            select(Progress).where(Progress.task_id == task.id).order_by(Progress.reported_at, Progress.id)
        )
    ]
    view["evaluations"] = [
        _evaluation_view(evaluation)
        for evaluation in session.scalars(
            select(Evaluation).where(Evaluation.task_id == task.id).order_by(Evaluation.id)
        )
    ]
    view["awards"] = [
        {"member_id": award.member_id, "points": award.points}
        for award in session.scalars(select(Award).where(Award.task_id == task.id).order_by(Award.id))
    ]
    return view


def _progress_view(report: Progress) -> dict[str, Any]:
    return {
        "id": report.id,
        "task_id": report.task_id,
        "member_id": report.member_id,
        "percent": report.percent,
        "note": report.note,
        "reported_at": report.reported_at,
    }


def _evaluation_view(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation.id,
        "task_id": evaluation.task_id,
        "source": evaluation.source,
        "rating": evaluation.rating,
        "comment": evaluation.comment,
        "evaluator_id": evaluation.evaluator_id,
        "created_at": evaluation.created_at,
    }


def _emit(session: Session, event_type: str, task: Task, **extra: Any) -> None:
    base = {
        "title": task.title,
        "org_code": task.org_code,
        "officer_id": task.officer_id,
        "status": task.status,
        "lead_member_id": task.lead_member_id,
        "claimant_ids": list(task.claimant_ids),
    }
    outbox.add(session, event_type, task.id, {"task_id": task.id, **base, **extra})


def _with_claimant(session: Session, member_id: str) -> Any:
    """`tasks.claimant_ids` with `member_id` appended, evaluated on the row being updated."""
    claimant_ids = Task.__table__.c.claimant_ids
    if session.get_bind().dialect.name == "postgresql":
        return claimant_ids.op("||")(func.jsonb_build_array(cast(literal(member_id), Text)))
    return func.json_insert(claimant_ids, "$[#]", member_id)


# --- lead cap -----------------------------------------------------------------------------


def _take_lead(session: Session, member_id: str, cap: int | None) -> None:
    """Count one more live task led by `member_id`; refuse past `cap` (None: a promotion).

    One upsert: a member's first lead inserts the row, later ones increment it under its row
    lock, and only while below the cap (the conflict update's WHERE)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    leads = MemberLeads.__table__
    statement = insert(leads).values(member_id=member_id, leading=1)
    statement = statement.on_conflict_do_update(
        index_elements=[leads.c.member_id],
        set_={"leading": leads.c.leading + 1},
        where=None if cap is None else leads.c.leading < cap,
    )
    # RETURNING, not rowcount: an upsert's rowcount is not reported by every driver.
    if (cap is not None and cap < 1) or session.execute(statement.returning(leads.c.leading)).first() is None:
        raise Conflict(f"a member may lead at most {cap} open tasks at once")


def _release_lead(session: Session, member_id: str | None) -> None:
    if member_id is None:
        return
    session.execute(
        update(MemberLeads)
        .where(MemberLeads.member_id == member_id, MemberLeads.leading > 0)
        .values(leading=MemberLeads.leading - 1)
        .execution_options(synchronize_session=False)
    )


# --- tasks --------------------------------------------------------------------------------


def create_task(deps: TasksDeps, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    if principal.role != "township_officer" and not principal.is_admin:
        raise Forbidden("only a township officer publishes tasks")
    township = _org(deps, data["org_code"], "org_code")
    if township.level != "township":
        raise InvalidInput(f"{township.code} is a {township.level}, not a township", field="org_code")
    if not principal.is_admin and principal.org not in township.path:
        raise Forbidden(f"{principal.org} may not create tasks for {township.code}")
    today = _today()
    domain.check_new_task(data["capacity"], data["points"], data["due_on"], today)
    county = _county_of(deps, township)
    with deps.database.transaction() as session:
        task = Task(
            id=new_id(),
            title=data["title"],
            description=data["description"],
            category=data["category"],
            org_code=township.code,
            org_path=domain.scope_prefix(township.path),
            county_code=county,
            capacity=data["capacity"],
            claimed=0,
            points=data["points"],
            due_on=data["due_on"],
            status=domain.DRAFT,
            officer_id=principal.sub,
            progress=0,
            created_at=utcnow(),
        )
        session.add(task)
        session.flush()
        audit.record(session, audit_log, principal, "create", "task", task.id)
        return task_detail(session, task)


def _transition(session: Session, task: Task, allowed: tuple[str, ...], action: str, **values: Any) -> None:
    """Move a task out of `allowed` statuses exactly once, whatever runs beside us."""
    result = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        session.refresh(task)
        domain.require_status(task.status, allowed, action)
        raise Conflict(f"cannot {action} this task now; try again")
    session.refresh(task)


def publish_task(deps: TasksDeps, principal: Principal, task_id: str) -> dict[str, Any]:
    with deps.database.transaction() as session:
        task = _load(session, task_id)
        _require_officer(principal, task, "publish tasks")
        domain.require_status(task.status, (domain.DRAFT,), "publish")
        _transition(session, task, (domain.DRAFT,), "publish", status=OPEN, published_at=utcnow())
        _emit(
            session,
            events.TASK_PUBLISHED,
            task,
            category=task.category,
            capacity=task.capacity,
            due_on=task.due_on.isoformat(),
            points=task.points,
        )
        audit.record(session, audit_log, principal, "publish", "task", task.id)
        return task_detail(session, task)


def cancel_task(deps: TasksDeps, principal: Principal, task_id: str, reason: str | None) -> dict[str, Any]:
    with deps.database.transaction() as session:
        task = _load(session, task_id, lock=True)
        _require_officer(principal, task, "cancel tasks")
        domain.require_status(task.status, domain.CANCELLABLE, "cancel")
        lead = task.lead_member_id
        _transition(
            session, task, domain.CANCELLABLE, "cancel", status=domain.CANCELLED, cancelled_at=utcnow()
        )
        _release_lead(session, lead)
        _emit(session, events.TASK_CANCELLED, task, reason=reason)
        audit.record(session, audit_log, principal, "cancel", "task", task.id, detail=reason)
        return task_detail(session, task)


def get_task(deps: TasksDeps, principal: Principal, task_id: str) -> dict[str, Any]:
    with deps.database.reader() as session:
        task = _load(session, task_id)
        if not _officer_in_scope(principal, task):
            if principal.role not in ("member", "branch_secretary"):
                raise Forbidden("you may not read this task")
            is_claimant = principal.role == "member" and session.scalar(
                select(Claim.id).where(Claim.task_id == task.id, Claim.member_id == principal.sub)
            )
            visible = task.status != domain.DRAFT and _visible(task, _branch_of(deps, principal))
            if not (is_claimant or visible):
                raise Forbidden("this task is not open to your branch")
        return task_detail(session, task)


# --- claims -------------------------------------------------------------------------------


def claim_task(deps: TasksDeps, principal: Principal, task_id: str, commitment: str) -> dict[str, Any]:
    if principal.role != "member":
        raise Forbidden("only a member claims a task; officers assign members")
    branch = _branch_of(deps, principal)
    return _add_claimant(deps, principal, task_id, principal.sub, branch, commitment, assigned_by=None)


def assign_member(
    deps: TasksDeps, principal: Principal, task_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    if principal.role not in OFFICER_ROLES and not principal.is_admin:
        raise Forbidden("only an officer assigns members")
    member_id = data["member_id"]
    with deps.database.reader() as session:
        _require_officer(principal, _load(session, task_id), "assign members")
    # Masked: an assignment needs the member's branch, never their ID or phone.
    response = deps.registration.request("GET", f"/api/v1/members/{member_id}", params={"masked": "true"})
    if response.status_code == 404:
        raise InvalidInput(f"member {member_id} does not exist", field="member_id")
    if response.status_code != 200:
        raise Unavailable(f"registration answered {response.status_code} for member {member_id}")
    branch = _org(deps, response.json()["branch_code"], "member_id")
    return _add_claimant(
        deps, principal, task_id, member_id, branch, data.get("commitment"), assigned_by=principal.sub
    )


def _add_claimant(
    deps: TasksDeps,
    principal: Principal,
    task_id: str,
    member_id: str,
    branch: OrgInfo,
    commitment: str | None,
    assigned_by: str | None,
) -> dict[str, Any]:
    if deps.database.is_sqlite:
        # SQLite has one writer at a time: refuse on a snapshot first, without the write lock,
        # so that a rush on a full task does not queue behind it. (PostgreSQL's conditional
        # UPDATE below refuses a full task without waiting on anything.)
        with deps.database.reader() as session:
            _explain_refusal(session, task_id, member_id, branch, assigned_by, before_update=True)
    with deps.database.transaction() as session:
        # The capacity check and the increment are one statement: the database decides. The
        # first claimant to get through it (holding the row lock on PostgreSQL, the database
        # on SQLite) finds no lead and becomes it.
        tasks = Task.__table__
        task = session.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.claimed < tasks.c.capacity, tasks.c.status.in_(CLAIMABLE))
            .values(
                claimed=tasks.c.claimed + 1,
                status=IN_PROGRESS,
                lead_member_id=func.coalesce(tasks.c.lead_member_id, member_id),
                claimant_ids=_with_claimant(session, member_id),
            )
            .returning(
                tasks.c.claimant_ids,
                tasks.c.status,
                tasks.c.lead_member_id,
                tasks.c.org_code,
                tasks.c.county_code,
                tasks.c.hall_opened_at,
                tasks.c.title,
                tasks.c.officer_id,
            )
        ).first()
        if task is None:
            _explain_refusal(session, task_id, member_id, branch, assigned_by, before_update=False)
            raise Conflict("this task cannot be claimed now; try again")
        if not _visible(task, branch):  # type: ignore[arg-type]
            raise Forbidden(_not_open_message(member_id, assigned_by))  # rolls the increment back
        claimed_at = utcnow()
        becomes_lead = task.lead_member_id == member_id
        claim = PendingInsert(
            Claim.__table__,
            {
                "id": new_id(),
                "task_id": task_id,
                "member_id": member_id,
                "branch_code": branch.code,
                "branch_path": domain.scope_prefix(branch.path),
                "commitment": commitment,
                "assigned_by": assigned_by,
                "claimed_at": claimed_at,
            },
        )
        event = outbox.pending(
            events.TASK_CLAIMED,
            task_id,
            {
                "task_id": task_id,
                **{key: getattr(task, key) for key in ("title", "org_code", "officer_id", "status")},
                "lead_member_id": task.lead_member_id,
                "claimant_ids": task.claimant_ids,
                "member_id": member_id,
                "lead": becomes_lead,
                "commitment": commitment,
                "assigned_by": assigned_by,
            },
        )
        action = "assign" if assigned_by else "claim"
        # The claim, its event and its audit in one round trip (one statement on PostgreSQL).
        try:
            insert_together(
                session, [claim, event, audit.pending(audit_log, principal, action, "task", task_id)]
            )
        except IntegrityError as error:  # the unique (task, member): a second claim by one member
            raise Conflict(f"member {member_id} has already claimed this task") from error
        # The lead after the claim row: a repeat claim by the lead also finds its own id in
        # lead_member_id, and must be refused as a repeat, not counted (or capped) as a new lead.
        if becomes_lead:
            _take_lead(session, member_id, deps.max_led_open_tasks)
        return {
            "task_id": task_id,
            "member_id": member_id,
            "lead": becomes_lead,
            "commitment": commitment,
            "claimed_at": claimed_at,
            "branch_code": branch.code,
            "assigned_by": assigned_by,
            "task_status": task.status,
        }


def _not_open_message(member_id: str, assigned_by: str | None) -> str:
    who = "your branch" if assigned_by is None else f"member {member_id}'s branch"
    return f"this task is not open to {who}"


def _explain_refusal(
    session: Session,
    task_id: str,
    member_id: str,
    branch: OrgInfo,
    assigned_by: str | None,
    before_update: bool,
) -> None:
    """Raise the reason a claim is refused (404, 403, 409), in that order of precedence."""
    task = _load(session, task_id)
    if not _visible(task, branch):
        raise Forbidden(_not_open_message(member_id, assigned_by))
    domain.require_status(task.status, CLAIMABLE, "claim")
    if session.scalar(select(Claim.id).where(Claim.task_id == task.id, Claim.member_id == member_id)):
        raise Conflict(f"member {member_id} has already claimed this task")
    if task.claimed >= task.capacity:
        raise Conflict(f"this task is full: all {task.capacity} places are taken")
    if not before_update:
        raise Conflict("this task cannot be claimed now; try again")


def withdraw_claim(deps: TasksDeps, principal: Principal, task_id: str, member_id: str) -> dict[str, Any]:
    with deps.database.transaction() as session:
        task = _load(session, task_id, lock=True)
        is_self = principal.role == "member" and principal.sub == member_id
        if not is_self:
            if principal.role == "member":
                raise Forbidden("a member withdraws only their own claim")
            _require_officer(principal, task, "remove claimants")
        claim = session.scalar(select(Claim).where(Claim.task_id == task.id, Claim.member_id == member_id))
        if claim is None:
            raise NotFound(f"member {member_id} has not claimed this task")
        domain.require_status(task.status, CLAIMABLE, "withdraw from")
        session.execute(delete(Claim).where(Claim.id == claim.id))
        remaining = _claims(session, task.id)
        values: dict[str, Any] = {
            "claimed": Task.claimed - 1,
            "claimant_ids": [claim.member_id for claim in remaining],
        }
        if not remaining:
            values["status"] = OPEN
        new_lead: str | None = None
        if task.lead_member_id == member_id:
            _release_lead(session, member_id)
            new_lead = remaining[0].member_id if remaining else None
            values["lead_member_id"] = new_lead
            if new_lead is not None:
                # A promotion is never refused: the task needs its lead more than the cap matters.
                _take_lead(session, new_lead, cap=None)
        _transition(session, task, CLAIMABLE, "withdraw from", **values)
        _emit(
            session,
            events.CLAIM_WITHDRAWN,
            task,
            member_id=member_id,
            removed_by=None if is_self else principal.sub,
        )
        audit.record(session, audit_log, principal, "withdraw", "task", task.id, detail=member_id)
        return task_detail(session, task)


# --- fulfil (践诺) ------------------------------------------------------------------------


def report_progress(
    deps: TasksDeps, principal: Principal, task_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    with deps.database.transaction() as session:
        task = _load(session, task_id)
        if principal.role != "member" or not session.scalar(
            select(Claim.id).where(Claim.task_id == task.id, Claim.member_id == principal.sub)
        ):
            raise Forbidden("only a claimant of this task reports progress")
        domain.require_status(task.status, (IN_PROGRESS,), "report progress on")
        percent = data["percent"]
        moved = session.execute(
            update(Task)
            .where(Task.id == task.id, Task.status == IN_PROGRESS, Task.progress <= percent)
            .values(progress=percent)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 0:
            session.refresh(task)
            domain.require_status(task.status, (IN_PROGRESS,), "report progress on")
            domain.check_progress(percent, task.progress)
        session.refresh(task)
        report = Progress(
            id=new_id(),
            task_id=task.id,
            member_id=principal.sub,
            percent=percent,
            note=data["note"],
            reported_at=utcnow(),
        )
        session.add(report)
        session.flush()
        _emit(
            session,
            events.PROGRESS_REPORTED,
            task,
            member_id=principal.sub,
            percent=percent,
            note=data["note"],
        )
        return _progress_view(report)


def complete_task(deps: TasksDeps, principal: Principal, task_id: str, summary: str) -> dict[str, Any]:
    with deps.database.transaction() as session:
        task = _load(session, task_id, lock=True)
        if principal.role != "member" or principal.sub != task.lead_member_id:
            raise Forbidden("only the lead claimant completes the task")
        domain.require_status(task.status, (IN_PROGRESS,), "complete")
        _transition(
            session,
            task,
            (IN_PROGRESS,),
            "complete",
            status=domain.COMPLETED,
            summary=summary,
            completed_at=utcnow(),
        )
        _release_lead(session, task.lead_member_id)
        _emit(session, events.TASK_COMPLETED, task, summary=summary)
        audit.record(session, audit_log, principal, "complete", "task", task.id)
        return task_detail(session, task)


# --- evaluate (评诺) and points ------------------------------------------------------------


def evaluate_task(
    deps: TasksDeps, principal: Principal, task_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    source = data["source"]
    with deps.database.transaction() as session:
        task = _load(session, task_id, lock=True)
        dedup_key = _authorize_evaluation(deps, session, principal, task, source)
        awards: dict[str, int] = {}
        now = utcnow()
        if source == "org":
            domain.require_status(task.status, (domain.COMPLETED,), "evaluate")
            _transition(
                session, task, (domain.COMPLETED,), "evaluate", status=domain.EVALUATED, evaluated_at=now
            )
            claims = _claims(session, task.id)
            assert task.lead_member_id is not None
            awards = domain.award_points(task.points, task.lead_member_id, [c.member_id for c in claims])
            quarter = domain.quarter_of(domain.local_today(now))
            for claim in claims:
                session.add(
                    Award(
                        id=new_id(),
                        task_id=task.id,
                        member_id=claim.member_id,
                        points=awards[claim.member_id],
                        branch_path=claim.branch_path,
                        quarter=quarter,
                        awarded_at=now,
                    )
                )
        else:
            domain.require_status(task.status, (domain.COMPLETED,), f"add a {source} evaluation to")
        evaluation = Evaluation(
            id=new_id(),
            task_id=task.id,
            source=source,
            rating=data["rating"],
            comment=data.get("comment"),
            evaluator_id=principal.sub,
            dedup_key=dedup_key,
            created_at=now,
        )
        session.add(evaluation)
        try:
            session.flush()
        except IntegrityError as error:
            raise Conflict(f"this task already has your {source} evaluation") from error
        _emit(
            session,
            events.TASK_EVALUATED,
            task,
            rating=evaluation.rating,
            source=source,
            awards=[{"member_id": member, "points": points} for member, points in awards.items()],
        )
        audit.record(session, audit_log, principal, f"evaluate_{source}", "task", task.id)
        return _evaluation_view(evaluation)


def _authorize_evaluation(
    deps: TasksDeps, session: Session, principal: Principal, task: Task, source: str
) -> str:
    """Who may give which evaluation; returns the key that keeps one per evaluator."""
    if source == "org":
        _require_officer(principal, task, "evaluate tasks")
        if principal.is_service:
            raise Forbidden("a service does not evaluate tasks")
        return "org"  # one org evaluation per task: it closes the task
    if source == "member":
        if principal.role != "member":
            raise Forbidden("a member evaluation comes from a member")
        if not _visible(task, _branch_of(deps, principal)):
            raise Forbidden("this task is not open to your branch")
        if session.scalar(select(Claim.id).where(Claim.task_id == task.id, Claim.member_id == principal.sub)):
            raise Forbidden("claimants do not evaluate their own task")
        return principal.sub
    # A resident's rating, recorded by an officer in scope or a secretary of a branch it serves.
    if principal.role == "branch_secretary":
        if not _visible(task, _branch_of(deps, principal)):
            raise Forbidden("this task is not open to your branch")
    elif principal.role in OFFICER_ROLES or principal.is_admin:
        _require_officer(principal, task, "record public ratings")
    else:
        raise Forbidden("public ratings are recorded by officers and branch secretaries")
    return new_id()


# --- lists, stats and points --------------------------------------------------------------


def _subtree_org(deps: TasksDeps, principal: Principal, org_code: str | None) -> OrgInfo | None:
    """The org of `?org=`, checked against the caller's own scope."""
    if org_code is None:
        return None
    info = _org(deps, org_code, "org", "query")
    if principal.role in OFFICER_ROLES and principal.org not in info.path:
        raise Forbidden(f"{org_code} is outside your subtree")
    return info


def _in_subtree(info: OrgInfo) -> Any:
    """Tasks under `info`. Tasks sit at townships, so a township or county subtree is an
    equality on an indexed column that also yields the newest-first order; higher up, a
    materialised path prefix (org codes are [A-Z0-9-]: the prefix needs no LIKE escaping)."""
    if info.level == "township":
        return Task.org_code == info.code
    if info.level == "county":
        return Task.county_code == info.code
    return Task.org_path.like(domain.scope_prefix(info.path) + "%")


def list_tasks(deps: TasksDeps, principal: Principal, query: dict[str, Any]) -> dict[str, Any]:
    conditions: list[Any] = []
    subtree = _subtree_org(deps, principal, query["org"])
    if principal.role in OFFICER_ROLES:
        subtree = subtree or _org(deps, principal.org, "org", "query")
    elif principal.role in ("member", "branch_secretary"):
        branch = _branch_of(deps, principal)
        conditions.append(Task.status != domain.DRAFT)
        conditions.append(
            or_(
                Task.org_code.in_(branch.path),
                and_(Task.hall_opened_at.is_not(None), Task.county_code.in_(branch.path)),
            )
        )
    elif not (principal.is_admin or principal.is_service):
        raise Forbidden(f"role {principal.role} may not list tasks")
    if subtree is not None:
        conditions.append(_in_subtree(subtree))
    if query["status"]:
        conditions.append(Task.status == query["status"])
    if query["category"]:
        conditions.append(Task.category == query["category"])
    today = _today()
    overdue = and_(Task.status.in_(LIVE), Task.due_on < today)
    if query["overdue"] is True:
        conditions.append(overdue)
    elif query["overdue"] is False:
        conditions.append(not_(overdue))
    claimable = and_(Task.status.in_(CLAIMABLE), Task.claimed < Task.capacity)
    if query["claimable"] is True:
        conditions.append(claimable)
    elif query["claimable"] is False:
        conditions.append(not_(claimable))
    after = decode_cursor(query["cursor"])
    if after:
        conditions.append(Task.id < str(after[0]))
    limit = query["limit"]
    with deps.database.reader() as session:
        rows = session.scalars(
            select(Task).where(*conditions).order_by(Task.id.desc()).limit(limit + 1)
        ).all()
        shown = rows[:limit]
        return {
            "items": [task_summary(task, today) for task in shown],
            "next_cursor": encode_cursor(shown[-1].id) if len(rows) > limit else None,
        }


def _require_reader_of(deps: TasksDeps, principal: Principal, info: OrgInfo) -> None:
    if principal.is_admin or principal.is_service:
        return
    if principal.role in (*OFFICER_ROLES, "branch_secretary") and principal.org in info.path:
        return
    if principal.role in ("member", "branch_secretary") and info.code in _branch_of(deps, principal).path:
        return
    raise Forbidden(f"{principal.role} of {principal.org} may not read {info.code}")


def task_stats(deps: TasksDeps, principal: Principal, org_code: str) -> dict[str, Any]:
    info = _org(deps, org_code, "org", "query")
    if not (
        principal.is_admin
        or principal.is_service
        or (principal.role in OFFICER_ROLES and principal.org in info.path)
    ):
        raise Forbidden(f"{principal.role} of {principal.org} may not read stats of {org_code}")
    in_subtree = _in_subtree(info)
    today = _today()
    with deps.database.reader() as session:
        by_status = {status: 0 for status in domain.STATUSES}
        overdue_case = case((and_(Task.status.in_(LIVE), Task.due_on < today), 1), else_=0)
        rows = session.execute(
            select(Task.status, func.count(), func.sum(overdue_case)).where(in_subtree).group_by(Task.status)
        ).all()
        overdue = 0
        for status, count, overdue_count in rows:
            by_status[status] = count
            overdue += int(overdue_count or 0)
        average = session.scalar(
            select(func.avg(Evaluation.rating)).join(Task, Task.id == Evaluation.task_id).where(in_subtree)
        )
    done = by_status[domain.COMPLETED] + by_status[domain.EVALUATED]
    # Drafts were never offered and cancelled tasks were withdrawn: neither counts as undone.
    offered = done + by_status[OPEN] + by_status[IN_PROGRESS]
    return {
        "org": info.code,
        "total": sum(by_status.values()),
        "by_status": by_status,
        "overdue": overdue,
        "completion_rate": round(done / offered, 4) if offered else None,
        "average_rating": round(float(average), 2) if average is not None else None,
    }


def points_ranking(deps: TasksDeps, principal: Principal, query: dict[str, Any]) -> dict[str, Any]:
    info = _org(deps, query["org"], "org", "query")
    _require_reader_of(deps, principal, info)
    quarter = query["quarter"] or domain.quarter_of(_today())
    try:
        domain.parse_quarter(quarter)
    except InvalidInput as error:
        error.location = "query"  # the rule is the domain's; where the field came from is ours
        raise
    after = decode_cursor(query["cursor"], arity=4)
    limit = query["limit"]
    total = func.sum(Award.points).label("total")
    statement = (
        select(Award.member_id, total)
        .where(Award.quarter == quarter, Award.branch_path.like(domain.scope_prefix(info.path) + "%"))
        .group_by(Award.member_id)
        .order_by(total.desc(), Award.member_id)
        .limit(limit + 1)
    )
    position, rank, last_points = 0, 0, None
    if after:
        try:
            last_points, last_member, rank, position = (
                int(after[0]),
                str(after[1]),
                int(after[2]),
                int(after[3]),
            )
        except (TypeError, ValueError) as error:
            raise InvalidInput(
                "cursor is not one this server issued", field="cursor", location="query"
            ) from error
        statement = statement.having(
            or_(total < last_points, and_(total == last_points, Award.member_id > last_member))
        )
    with deps.database.reader() as session:
        rows = session.execute(statement).all()
    items = []
    for member_id, points in rows[:limit]:
        position += 1
        points = int(points)
        if points != last_points:
            rank = position  # competition ranking: 1, 2, 2, 4
        last_points = points
        items.append({"member_id": member_id, "points": points, "rank": rank})
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        next_cursor = encode_cursor(last["points"], last["member_id"], last["rank"], position)
    return {"items": items, "next_cursor": next_cursor}


# --- sweeps (run on a schedule by the tasks worker) ----------------------------------------


def open_hall_sweep(database: Database, open_after: timedelta, now: datetime | None = None) -> list[str]:
    """Open to the county's whole subtree every task nobody claimed within `open_after`."""
    now = now or utcnow()
    due = and_(
        Task.status == OPEN,
        Task.claimed == 0,
        Task.hall_opened_at.is_(None),
        Task.county_code.is_not(None),
        Task.published_at <= now - open_after,
    )
    opened: list[str] = []
    with database.reader() as session:
        candidates = session.scalars(select(Task.id).where(due).order_by(Task.id).limit(500)).all()
    for task_id in candidates:
        with database.transaction() as session:
            # Conditional, so each task enters the hall (and emits its event) once.
            if session.execute(
                update(Task)
                .where(Task.id == task_id, due)
                .values(hall_opened_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount:
                task = _load(session, task_id)
                _emit(session, events.TASK_OPENED_TO_HALL, task, county_code=task.county_code)
                opened.append(task_id)
    return opened


def overdue_sweep(database: Database, now: datetime | None = None) -> list[str]:
    """Flag every live task past its due date, once per task (tasks.task_overdue.v1)."""
    today = domain.local_today(now or utcnow())
    due = and_(Task.status.in_(LIVE), Task.due_on < today, Task.overdue_flagged_at.is_(None))
    flagged: list[str] = []
    with database.reader() as session:
        candidates = session.scalars(select(Task.id).where(due).order_by(Task.id).limit(500)).all()
    for task_id in candidates:
        with database.transaction() as session:
            if session.execute(
                update(Task)
                .where(Task.id == task_id, due)
                .values(overdue_flagged_at=now or utcnow())
                .execution_options(synchronize_session=False)
            ).rowcount:
                task = _load(session, task_id)
                _emit(session, events.TASK_OVERDUE, task, due_on=task.due_on.isoformat())
                flagged.append(task_id)
    return flagged
