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


@dataclass
class SweepInput:
    """None means: use the worker's NUANLIU_LOST_CONTACT_DAYS (so a config change needs no new schedule)."""

    lost_contact_days: int | None = None


@dataclass
class SweepResult:
    flagged: int


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
