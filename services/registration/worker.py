"""The registration worker process: the lost-contact sweep workflow and its daily Schedule, the
monthly coverage reminder and its Schedule (the 25th, China time), and retention.

`nuanliu worker registration` runs it. The Temporal client and worker are made here, in their
own process. The Schedules are created at start-up, or brought to this release's spec.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.worker import Worker

from services.registration.activities import RegistrationActivities
from services.registration.app import open_database
from services.registration.id_hashes import backfill_id_number_hashes
from services.registration.models import idempotency_keys, outbox
from services.registration.settings import RegistrationSettings
from services.registration.workflows import (
    CoverageInput,
    CoverageReminderWorkflow,
    LostContactSweepWorkflow,
    SweepInput,
)
from shared.clock import CHINA_ZONE_NAME
from shared.retention import RetentionActivities, ensure_retention_schedule, standard_rules
from shared.retention_workflow import RetentionWorkflow
from shared.temporal import connect_with_retry, serve_until_signalled, temporal_tls
from shared.temporal import ensure_schedule as ensure_named_schedule

log = logging.getLogger(__name__)

TASK_QUEUE = os.environ.get("NUANLIU_REGISTRATION_TASK_QUEUE", "nuanliu-registration")
SCHEDULE_ID = "registration-lost-contact-sweep"
SWEEP_EVERY = timedelta(days=1)
COVERAGE_SCHEDULE_ID = "registration-coverage-reminder"
# The 25th of each month at 09:00 in China: a week left to reach whoever was not reached.
COVERAGE_DAY, COVERAGE_HOUR = 25, 9


def build_worker(
    client: Client, settings: RegistrationSettings, executor: ThreadPoolExecutor, task_queue: str
) -> Worker:
    database = open_database(settings)
    bound = RegistrationActivities(database, settings.lost_contact_days, settings.suspension_due_days)
    rules = standard_rules(
        outbox.table, idempotency_keys, settings.retention_sent_outbox, settings.retention_idempotency
    )
    retention = RetentionActivities(database, rules, settings.retention_batch_size)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[LostContactSweepWorkflow, CoverageReminderWorkflow, RetentionWorkflow],
        activities=[bound.sweep_lost_contact, bound.remind_coverage, retention.prune],
        activity_executor=executor,
        max_concurrent_activities=4,
    )


async def ensure_schedule(
    client: Client, task_queue: str, schedule_id: str = SCHEDULE_ID, every: timedelta = SWEEP_EVERY
) -> bool:
    """Create the daily sweep schedule, or bring it to this spec; True if this call created it."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            LostContactSweepWorkflow.run,
            SweepInput(),
            id=f"{schedule_id}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
    )
    return await ensure_named_schedule(client, schedule_id, schedule)


def coverage_schedule(task_queue: str, schedule_id: str = COVERAGE_SCHEDULE_ID) -> Schedule:
    """每月一摸排: the 25th of every month, 09:00 China time."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CoverageReminderWorkflow.run, CoverageInput(), id=f"{schedule_id}-run", task_queue=task_queue
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(COVERAGE_DAY)],
                    hour=[ScheduleRange(COVERAGE_HOUR)],
                    comment="每月一摸排 reminder",
                )
            ],
            time_zone_name=CHINA_ZONE_NAME,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_coverage_schedule(
    client: Client, task_queue: str, schedule_id: str = COVERAGE_SCHEDULE_ID
) -> bool:
    return await ensure_named_schedule(client, schedule_id, coverage_schedule(task_queue, schedule_id))


async def run_worker(settings: RegistrationSettings) -> None:
    client = await connect_with_retry(
        settings.temporal_address, settings.temporal_namespace, temporal_tls(settings)
    )
    await ensure_schedule(client, TASK_QUEUE)
    await ensure_coverage_schedule(client, TASK_QUEUE)
    await ensure_retention_schedule(client, "registration", TASK_QUEUE, settings.retention_every)
    log.info("registration worker polling %s", TASK_QUEUE)
    await serve_until_signalled(
        lambda executor: build_worker(client, settings, executor, TASK_QUEUE), activity_threads=4
    )


def main(settings: RegistrationSettings) -> None:
    # Members the migration could not hash (it ran without the key) get their search hash now.
    database = open_database(settings)
    try:
        backfill_id_number_hashes(database, settings.id_hash_key)
    finally:
        database.dispose()
    asyncio.run(run_worker(settings))
