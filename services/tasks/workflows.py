"""The sweep workflow a Temporal Schedule starts every `task_sweep_every`.

Deterministic: no I/O, no clock, no database imports. The activities (by name) do the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

OPEN_HALL_SWEEP = "tasks_open_hall_sweep"
OVERDUE_SWEEP = "tasks_overdue_sweep"


@dataclass
class SweepInput:
    """One dataclass argument, so fields can be added later."""

    open_hall_after_seconds: float


@dataclass
class SweepResult:
    opened_to_hall: list[str]
    flagged_overdue: list[str]


# Both sweeps are idempotent (conditional updates), so retries and overlapping runs are safe.
@workflow.defn
class TaskSweepWorkflow:
    @workflow.run
    async def run(self, sweep: SweepInput) -> SweepResult:
        timeout = timedelta(minutes=2)
        retry = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=5)
        opened: list[str] = await workflow.execute_activity(
            OPEN_HALL_SWEEP, sweep, result_type=list[str], start_to_close_timeout=timeout, retry_policy=retry
        )
        flagged: list[str] = await workflow.execute_activity(
            OVERDUE_SWEEP, result_type=list[str], start_to_close_timeout=timeout, retry_policy=retry
        )
        return SweepResult(opened_to_hall=opened, flagged_overdue=flagged)
