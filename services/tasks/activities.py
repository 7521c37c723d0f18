"""Synchronous sweep activities: idempotent writes to the tasks database and its outbox,
through the sweep use cases."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from services.tasks import commands
from services.tasks.unit_of_work import TasksUnitOfWork
from services.tasks.workflows import OPEN_HALL_SWEEP, OVERDUE_SWEEP, SweepInput
from shared import metrics
from shared.db import Database


class SweepActivities:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _unit_of_work(self) -> TasksUnitOfWork:
        # One per call: activities run on several threads, and a unit of work holds a session.
        return TasksUnitOfWork(self.database)

    @activity.defn(name=OPEN_HALL_SWEEP)
    def open_hall(self, sweep: SweepInput) -> list[str]:
        """Tasks nobody claimed in time enter the county's open hall (once each)."""
        command = commands.OpenHall(open_after=timedelta(seconds=sweep.open_hall_after_seconds))
        with metrics.schedule_run("open_hall_sweep"):
            return commands.open_hall_sweep(self._unit_of_work(), command)

    @activity.defn(name=OVERDUE_SWEEP)
    def overdue(self) -> list[str]:
        """Live tasks past their due date are flagged (once each)."""
        with metrics.schedule_run("overdue_sweep"):
            return commands.overdue_sweep(self._unit_of_work(), commands.FlagOverdue())
