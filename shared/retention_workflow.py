"""The retention run as a Temporal workflow, started by each worker's hourly Schedule.

Deterministic: it only schedules the activity (`shared.retention.RetentionActivities`), which
prunes in short transactions; a retried activity just carries on where the last batch ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

RETENTION_ACTIVITY = "retention.prune"


@dataclass
class RetentionInput:
    batch_size: int | None = None  # None: the worker's NUANLIU_RETENTION_BATCH_SIZE


@dataclass
class RetentionResult:
    rows: dict[str, int] = field(default_factory=dict)  # rule → rows pruned or archived


@workflow.defn(name="NuanliuRetention")
class RetentionWorkflow:
    @workflow.run
    async def run(self, given: RetentionInput) -> RetentionResult:
        result: RetentionResult = await workflow.execute_activity(
            RETENTION_ACTIVITY,
            given,
            result_type=RetentionResult,
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=5),
        )
        return result
