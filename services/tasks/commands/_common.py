"""What every tasks use case does alike: load a task, move it once, raise its event."""

from __future__ import annotations

from typing import Any

from services.tasks import domain
from services.tasks.models import Task
from services.tasks.unit_of_work import TaskReads, TasksUnitOfWork
from shared.errors import Conflict, NotFound


def load_task(repositories: TasksUnitOfWork | TaskReads, task_id: str, lock: bool = False) -> Task:
    task = repositories.tasks.get(task_id, lock=lock)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def transition(
    uow: TasksUnitOfWork, task: Task, allowed: tuple[str, ...], action: str, **values: Any
) -> None:
    """Move a task out of `allowed` statuses exactly once, whatever runs beside us."""
    if not uow.tasks.move(task, allowed, **values):
        domain.require_status(task.status, allowed, action)
        raise Conflict(f"cannot {action} this task now; try again")


def emit_task_event(uow: TasksUnitOfWork, event_type: str, task: Task, **extra: Any) -> None:
    base = {
        "title": task.title,
        "org_code": task.org_code,
        "officer_id": task.officer_id,
        "status": task.status,
        "lead_member_id": task.lead_member_id,
        "claimant_ids": list(task.claimant_ids),
    }
    uow.emit(event_type, task.id, {"task_id": task.id, **base, **extra})
