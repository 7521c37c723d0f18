"""The daily lost-contact sweep as a Temporal workflow.

Deterministic: it only schedules the activity; the rules and the database work are in the
activity (services.registration.activities), which calls the use case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

SWEEP_ACTIVITY = "registration.sweep_lost_contact"
COVERAGE_ACTIVITY = "registration.remind_coverage"


@dataclass
class SweepInput:
    """None means: use the worker's NUANLIU_LOST_CONTACT_DAYS (so a config change needs no new schedule)."""

    lost_contact_days: int | None = None


@dataclass
class SweepResult:
    flagged: int
    # Members announced as due for a standing decision (older histories lack it: 0).
    suspension_due: int = 0


@dataclass
class CoverageInput:
    """None: the month in China when the activity runs (the 25th's month)."""

    month: str | None = None


@dataclass
class CoverageResult:
    reminded: int


# One run per day from a Schedule; retried activity, since the sweep is idempotent (flags once).
@workflow.defn(name="RegistrationLostContactSweep")
class LostContactSweepWorkflow:
    @workflow.run
    async def run(self, sweep: SweepInput) -> SweepResult:
        result: SweepResult = await workflow.execute_activity(
            SWEEP_ACTIVITY,
            sweep,
            result_type=SweepResult,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=10),
        )
        return result


# 每月一摸排: on the 25th (China time) the branches with mobile members not yet reached that month
# are reminded; the activity is idempotent per branch and month, so it is simply retried.
@workflow.defn(name="RegistrationCoverageReminder")
class CoverageReminderWorkflow:
    @workflow.run
    async def run(self, given: CoverageInput) -> CoverageResult:
        result: CoverageResult = await workflow.execute_activity(
            COVERAGE_ACTIVITY,
            given,
            result_type=CoverageResult,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=10),
        )
        return result
