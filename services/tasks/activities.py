"""Synchronous sweep activities: idempotent writes to the tasks database and its outbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from services.tasks import service
from services.tasks.workflows import OPEN_HALL_SWEEP, OVERDUE_SWEEP, SweepInput
from shared.db import Database


class SweepActivities:
    def __init__(self, database: Database) -> None:
        self.database = database

    @activity.defn(name=OPEN_HALL_SWEEP)
    def open_hall(self, sweep: SweepInput) -> list[str]:
        """Tasks nobody claimed in time enter the county's open hall (once each)."""
        return service.open_hall_sweep(self.database, timedelta(seconds=sweep.open_hall_after_seconds))

    @activity.defn(name=OVERDUE_SWEEP)
    def overdue(self) -> list[str]:
        """Live tasks past their due date are flagged (once each)."""
        return service.overdue_sweep(self.database)
