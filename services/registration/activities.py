"""Synchronous activities of the registration worker: they call the service's own use cases."""

from __future__ import annotations

import logging

from temporalio import activity

from services.registration import commands
from services.registration.commands import course
from services.registration.unit_of_work import RegistrationUnitOfWork
from services.registration.workflows import (
    COVERAGE_ACTIVITY,
    SWEEP_ACTIVITY,
    CoverageInput,
    CoverageResult,
    SweepInput,
    SweepResult,
)
from shared import metrics
from shared.db import Database

log = logging.getLogger(__name__)


class RegistrationActivities:
    def __init__(self, database: Database, lost_contact_days: int, suspension_due_days: int = 180) -> None:
        self.database = database
        self.lost_contact_days = lost_contact_days
        self.suspension_due_days = suspension_due_days

    # Idempotent: a member already flagged is not picked again, so a retry emits nothing twice;
    # likewise a member whose suspension-due notice went out in this episode.
    @activity.defn(name=SWEEP_ACTIVITY)
    def sweep_lost_contact(self, sweep: SweepInput) -> SweepResult:
        days = sweep.lost_contact_days or self.lost_contact_days
        with metrics.schedule_run("lost_contact_sweep"):
            flagged = commands.sweep_lost_contact(
                RegistrationUnitOfWork(self.database),
                commands.SWEEP_ACTOR,
                commands.SweepLostContact(lost_contact_days=days),
            )
            due = course.sweep_suspension_due(
                RegistrationUnitOfWork(self.database),
                commands.SWEEP_ACTOR,
                course.SweepSuspensionDue(suspension_due_days=self.suspension_due_days),
            )
        log.info("lost-contact sweep flagged %d members (limit %d days), %d suspension due", flagged, days, due)
        return SweepResult(flagged=flagged, suspension_due=due)

    # Idempotent per branch and month (coverage_reminders), so retries and reruns remind once.
    @activity.defn(name=COVERAGE_ACTIVITY)
    def remind_coverage(self, given: CoverageInput) -> CoverageResult:
        with metrics.schedule_run("coverage_reminder"):
            reminded = course.remind_coverage(
                RegistrationUnitOfWork(self.database), commands.SWEEP_ACTOR, course.RemindCoverage(given.month)
            )
        log.info("coverage reminder: %d branches reminded", reminded)
        return CoverageResult(reminded=reminded)
