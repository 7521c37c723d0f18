"""The sweeps the tasks worker runs on a schedule: the open hall and overdue flags.

Each task moves in its own unit of work by a conditional UPDATE, so a task is opened or
flagged (and its event raised) once, however often or concurrently the sweeps run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.tasks.commands._common import emit_task_event
from services.tasks.unit_of_work import TasksUnitOfWork
from shared.clock import local_today
from shared.contracts import tasks as events
from shared.db import utcnow


@dataclass(frozen=True)
class OpenHall:
    """Open to the county's whole subtree every task nobody claimed within `open_after`."""

    open_after: timedelta
    now: datetime | None = None


@dataclass(frozen=True)
class FlagOverdue:
    """Flag every live task past its due date (in China), once per task."""

    now: datetime | None = None


def open_hall_sweep(uow: TasksUnitOfWork, command: OpenHall) -> list[str]:
    """The ids of the tasks this run opened to the hall."""
    now = command.now or utcnow()
    with uow.reading() as reads:
        candidates = reads.tasks.due_for_hall(command.open_after, now)
    opened: list[str] = []
    for task_id in candidates:
        with uow:
            task = uow.tasks.open_to_hall(task_id, command.open_after, now)
            if task is not None:
                emit_task_event(uow, events.TASK_OPENED_TO_HALL, task, county_code=task.county_code)
                opened.append(task_id)
            uow.commit()
    return opened


def overdue_sweep(uow: TasksUnitOfWork, command: FlagOverdue) -> list[str]:
    """The ids of the tasks this run flagged overdue (tasks.task_overdue.v1)."""
    now = command.now or utcnow()
    today = local_today(now)
    with uow.reading() as reads:
        candidates = reads.tasks.due_for_overdue(today)
    flagged: list[str] = []
    for task_id in candidates:
        with uow:
            task = uow.tasks.flag_overdue(task_id, today, now)
            if task is not None:
                emit_task_event(uow, events.TASK_OVERDUE, task, due_on=task.due_on.isoformat())
                flagged.append(task_id)
            uow.commit()
    return flagged
