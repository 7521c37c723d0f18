"""Use cases of a task's own lifecycle: create (a draft), publish, cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.tasks import access, domain
from services.tasks.commands._common import emit_task_event, load_task, transition
from services.tasks.domain import DRAFT, OPEN
from services.tasks.models import Task
from services.tasks.unit_of_work import TasksUnitOfWork
from shared.auth import Principal
from shared.clock import local_today
from shared.contracts import tasks as events
from shared.db import new_id, utcnow
from shared.errors import Forbidden, InvalidInput


@dataclass(frozen=True)
class CreateTask:
    title: str
    description: str
    org_code: str
    category: str
    due_on: date
    capacity: int = 1
    points: int = 10


@dataclass(frozen=True)
class PublishTask:
    task_id: str


@dataclass(frozen=True)
class CancelTask:
    task_id: str
    reason: str | None = None


def create_task(uow: TasksUnitOfWork, actor: Principal, command: CreateTask) -> Task:
    """A draft for a township in the officer's subtree."""
    if actor.role != "township_officer" and not actor.is_admin:
        raise Forbidden("only a township officer publishes tasks")
    township = access.org_of(uow.orgs, command.org_code, "org_code")
    if township.level != "township":
        raise InvalidInput(f"{township.code} is a {township.level}, not a township", field="org_code")
    if not actor.is_admin and actor.org not in township.path:
        raise Forbidden(f"{actor.org} may not create tasks for {township.code}")
    domain.check_new_task(command.capacity, command.points, command.due_on, local_today())
    county = access.county_of(uow.orgs, township)
    with uow:
        task = Task(
            id=new_id(),
            title=command.title,
            description=command.description,
            category=command.category,
            org_code=township.code,
            org_path=domain.scope_prefix(township.path),
            county_code=county,
            capacity=command.capacity,
            claimed=0,
            claimant_ids=[],
            points=command.points,
            due_on=command.due_on,
            status=DRAFT,
            officer_id=actor.sub,
            progress=0,
            created_at=utcnow(),
        )
        uow.tasks.add(task)
        uow.audit(actor, "create", "task", task.id)
        uow.commit()
    return task


def publish_task(uow: TasksUnitOfWork, actor: Principal, command: PublishTask) -> Task:
    with uow:
        task = load_task(uow, command.task_id)
        domain.check_publish(access.standing_of(uow.orgs, uow, actor, task))
        transition(uow, task, (DRAFT,), "publish", status=OPEN, published_at=utcnow())
        emit_task_event(
            uow,
            events.TASK_PUBLISHED,
            task,
            category=task.category,
            capacity=task.capacity,
            due_on=task.due_on.isoformat(),
            points=task.points,
        )
        uow.audit(actor, "publish", "task", task.id)
        uow.commit()
    return task


def cancel_task(uow: TasksUnitOfWork, actor: Principal, command: CancelTask) -> Task:
    with uow:
        task = load_task(uow, command.task_id, lock=True)
        domain.check_cancel(access.standing_of(uow.orgs, uow, actor, task))
        lead = task.lead_member_id
        transition(uow, task, domain.CANCELLABLE, "cancel", status=domain.CANCELLED, cancelled_at=utcnow())
        uow.leads.release(lead)
        emit_task_event(uow, events.TASK_CANCELLED, task, reason=command.reason)
        uow.audit(actor, "cancel", "task", task.id, detail=command.reason)
        uow.commit()
    return task
