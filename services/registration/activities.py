"""Synchronous activities of the registration worker: they call the service's own use cases."""

from __future__ import annotations

import logging

from temporalio import activity

from services.registration import commands
from services.registration.unit_of_work import RegistrationUnitOfWork
from services.registration.workflows import SWEEP_ACTIVITY, SweepInput, SweepResult
from shared import metrics
from shared.db import Database

log = logging.getLogger(__name__)


class RegistrationActivities:
    def __init__(self, database: Database, lost_contact_days: int) -> None:
        self.database = database
        self.lost_contact_days = lost_contact_days

    # Idempotent: a member already flagged is not picked again, so a retry emits nothing twice.
    @activity.defn(name=SWEEP_ACTIVITY)
    def sweep_lost_contact(self, sweep: SweepInput) -> SweepResult:
        days = sweep.lost_contact_days or self.lost_contact_days
        with metrics.schedule_run("lost_contact_sweep"):
            flagged = commands.sweep_lost_contact(
                RegistrationUnitOfWork(self.database),
                commands.SWEEP_ACTOR,
                commands.SweepLostContact(lost_contact_days=days),
            )
        log.info("lost-contact sweep flagged %d members (limit %d days)", flagged, days)
        return SweepResult(flagged=flagged)
