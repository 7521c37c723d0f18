"""Use cases of fulfilment (践诺) and evaluation (评诺): progress, completion, evaluations and
the points the org evaluation awards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.tasks import access, domain
from services.tasks.commands._common import emit_task_event, load_task, transition
from services.tasks.domain import COMPLETED, IN_PROGRESS
from services.tasks.models import Award, Evaluation, Progress, Task
from services.tasks.unit_of_work import TasksUnitOfWork
from shared.auth import Principal
from shared.clock import local_today, quarter_of
from shared.contracts import tasks as events
from shared.db import new_id, utcnow
from shared.errors import Conflict, Forbidden


@dataclass(frozen=True)
class ReportProgress:
    task_id: str
    percent: int
    note: str


@dataclass(frozen=True)
class CompleteTask:
    task_id: str
    summary: str


@dataclass(frozen=True)
class EvaluateTask:
    task_id: str
    source: str  # org, member or public (domain.SOURCES)
    rating: int
    comment: str | None = None


def report_progress(uow: TasksUnitOfWork, actor: Principal, command: ReportProgress) -> Progress:
    """A claimant reports progress; the percentage only goes up."""
    percent = command.percent
    with uow:
        task = load_task(uow, command.task_id)
        if actor.role != "member" or not uow.claims.held(task.id, actor.sub):
            raise Forbidden("only a claimant of this task reports progress")
        domain.require_status(task.status, (IN_PROGRESS,), "report progress on")
        if not uow.tasks.raise_progress(task, percent):
            domain.require_status(task.status, (IN_PROGRESS,), "report progress on")
            domain.check_progress(percent, task.progress)
        report = Progress(
            id=new_id(),
            task_id=task.id,
            member_id=actor.sub,
            percent=percent,
            note=command.note,
            reported_at=utcnow(),
        )
        uow.progress.add(report)
        emit_task_event(
            uow, events.PROGRESS_REPORTED, task, member_id=actor.sub, percent=percent, note=command.note
        )
        uow.commit()
    return report


def complete_task(uow: TasksUnitOfWork, actor: Principal, command: CompleteTask) -> Task:
    with uow:
        task = load_task(uow, command.task_id, lock=True)
        if actor.role != "member" or actor.sub != task.lead_member_id:
            raise Forbidden("only the lead claimant completes the task")
        domain.require_status(task.status, (IN_PROGRESS,), "complete")
        values = {"status": COMPLETED, "summary": command.summary, "completed_at": utcnow()}
        transition(uow, task, (IN_PROGRESS,), "complete", **values)
        uow.leads.release(task.lead_member_id)
        emit_task_event(uow, events.TASK_COMPLETED, task, summary=command.summary)
        uow.audit(actor, "complete", "task", task.id)
        uow.commit()
    return task


def evaluate_task(uow: TasksUnitOfWork, actor: Principal, command: EvaluateTask) -> Evaluation:
    """The org evaluation closes the task and awards the points; members and residents rate."""
    source = command.source
    with uow:
        task = load_task(uow, command.task_id, lock=True)
        dedup_key = _authorize_evaluation(uow, actor, task, source)
        now = utcnow()
        if source == "org":
            awards = _close_and_award(uow, task, now)
        else:
            domain.require_status(task.status, (COMPLETED,), f"add a {source} evaluation to")
            awards = {}
        evaluation = Evaluation(
            id=new_id(),
            task_id=task.id,
            source=source,
            rating=command.rating,
            comment=command.comment,
            evaluator_id=actor.sub,
            dedup_key=dedup_key,
            created_at=now,
        )
        if not uow.evaluations.add(evaluation):
            raise Conflict(f"this task already has your {source} evaluation")
        emit_task_event(
            uow,
            events.TASK_EVALUATED,
            task,
            rating=evaluation.rating,
            source=source,
            awards=[{"member_id": member, "points": points} for member, points in awards.items()],
        )
        uow.audit(actor, f"evaluate_{source}", "task", task.id)
        uow.commit()
    return evaluation


def _close_and_award(uow: TasksUnitOfWork, task: Task, now: datetime) -> dict[str, int]:
    """Close a completed task (once) and award its claimants: the lead the points, others half."""
    domain.require_status(task.status, (COMPLETED,), "evaluate")
    transition(uow, task, (COMPLETED,), "evaluate", status=domain.EVALUATED, evaluated_at=now)
    claims = uow.claims.of_task(task.id)
    assert task.lead_member_id is not None  # a completed task always has its lead
    awards = domain.award_points(task.points, task.lead_member_id, [claim.member_id for claim in claims])
    quarter = quarter_of(local_today(now))
    uow.awards.add_all(
        [
            Award(
                id=new_id(),
                task_id=task.id,
                member_id=claim.member_id,
                points=awards[claim.member_id],
                branch_path=claim.branch_path,
                quarter=quarter,
                awarded_at=now,
            )
            for claim in claims
        ]
    )
    return awards


def _authorize_evaluation(uow: TasksUnitOfWork, actor: Principal, task: Task, source: str) -> str:
    """Who may give which evaluation; returns the key that keeps one per evaluator."""
    if source == "org":
        access.require_officer(actor, task, "evaluate tasks")
        if actor.is_service:
            raise Forbidden("a service does not evaluate tasks")
        return "org"  # one org evaluation per task: it closes the task
    if source == "member":
        if actor.role != "member":
            raise Forbidden("a member evaluation comes from a member")
        if not access.visible(task, access.branch_of(uow.orgs, actor)):
            raise Forbidden("this task is not open to your branch")
        if uow.claims.held(task.id, actor.sub):
            raise Forbidden("claimants do not evaluate their own task")
        return actor.sub
    # A resident's rating, recorded by an officer in scope or a secretary of a branch it serves.
    if actor.role == "branch_secretary":
        if not access.visible(task, access.branch_of(uow.orgs, actor)):
            raise Forbidden("this task is not open to your branch")
    elif actor.role in access.OFFICER_ROLES or actor.is_admin:
        access.require_officer(actor, task, "record public ratings")
    else:
        raise Forbidden("public ratings are recorded by officers and branch secretaries")
    return new_id()
