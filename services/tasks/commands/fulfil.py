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
from shared.errors import Conflict


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
        domain.check_report_progress(access.standing_of(uow.orgs, uow, actor, task))
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
            uow,
            events.PROGRESS_REPORTED,
            task,
            member_id=actor.sub,
            member_name=actor.name,
            percent=percent,
            note=command.note,
        )
        uow.commit()
    return report


def complete_task(uow: TasksUnitOfWork, actor: Principal, command: CompleteTask) -> Task:
    with uow:
        task = load_task(uow, command.task_id, lock=True)
        domain.check_complete(access.standing_of(uow.orgs, uow, actor, task))
        values = {"status": COMPLETED, "summary": command.summary, "completed_at": utcnow()}
        transition(uow, task, (IN_PROGRESS,), "complete", **values)
        uow.leads.release(task.lead_member_id)
        emit_task_event(uow, events.TASK_COMPLETED, task, summary=command.summary, member_name=actor.name)
        uow.audit(actor, "complete", "task", task.id)
        uow.commit()
    return task


def evaluate_task(uow: TasksUnitOfWork, actor: Principal, command: EvaluateTask) -> Evaluation:
    """The org evaluation closes the task and awards the points; members and residents rate."""
    source = command.source
    with uow:
        task = load_task(uow, command.task_id, lock=True)
        domain.check_evaluate(access.standing_of(uow.orgs, uow, actor, task), source)
        # One org evaluation per task (it closes the task), one per member; residents' many.
        dedup_key = {"org": "org", "member": actor.sub}.get(source) or new_id()
        now = utcnow()
        awards = _close_and_award(uow, task, now) if source == "org" else {}
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
