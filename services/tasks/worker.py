"""The tasks worker process: keeps the sweep Schedule in place and runs its workflow.

The open-hall and overdue sweeps run as a Temporal Schedule (overlaps skipped, missed runs
caught up once), not as a loop in some API process. The client and worker are made here,
in their own process, never before a fork.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import Worker

from services.tasks.activities import SweepActivities
from services.tasks.app import open_database
from services.tasks.models import idempotency_keys, outbox
from services.tasks.settings import TasksSettings
from services.tasks.workflows import SweepInput, TaskSweepWorkflow
from shared.retention import RetentionActivities, ensure_retention_schedule, standard_rules
from shared.retention_workflow import RetentionWorkflow
from shared.temporal import connect_with_retry, serve_until_signalled, temporal_tls
from shared.temporal import ensure_schedule as ensure_named_schedule

log = logging.getLogger(__name__)

SCHEDULE_ID = "tasks-sweeps"


def sweep_schedule(settings: TasksSettings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TaskSweepWorkflow.run,
            SweepInput(open_hall_after_seconds=settings.task_open_hall_after.total_seconds()),
            id="tasks-sweep",
            task_queue=settings.tasks_task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.task_sweep_every)]),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=max(settings.task_sweep_every * 2, timedelta(minutes=1)),
        ),
    )


async def ensure_schedule(client: Client, settings: TasksSettings) -> None:
    """Create the schedule, or bring an existing one to the current settings."""
    await ensure_named_schedule(client, SCHEDULE_ID, sweep_schedule(settings))


async def ensure_schedules(client: Client, settings: TasksSettings) -> None:
    await ensure_schedule(client, settings)
    await ensure_retention_schedule(client, "tasks", settings.tasks_task_queue, settings.retention_every)


def build_worker(client: Client, settings: TasksSettings, executor: ThreadPoolExecutor) -> Worker:
    database = open_database(settings)
    activities = SweepActivities(database)
    rules = standard_rules(
        outbox.table, idempotency_keys, settings.retention_sent_outbox, settings.retention_idempotency
    )
    retention = RetentionActivities(database, rules, settings.retention_batch_size)
    return Worker(
        client,
        task_queue=settings.tasks_task_queue,
        workflows=[TaskSweepWorkflow, RetentionWorkflow],
        activities=[activities.open_hall, activities.overdue, retention.prune],
        activity_executor=executor,
        max_concurrent_activities=4,
    )


async def run_worker(settings: TasksSettings) -> None:
    client = await connect_with_retry(
        settings.temporal_address, settings.temporal_namespace, temporal_tls(settings)
    )
    log.info("tasks worker polling %s", settings.tasks_task_queue)
    await serve_until_signalled(
        lambda executor: build_worker(client, settings, executor),
        activity_threads=4,
        on_started=lambda: ensure_schedules(client, settings),
    )


def main(settings: TasksSettings) -> None:
    asyncio.run(run_worker(settings))
