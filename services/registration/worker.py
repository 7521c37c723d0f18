"""The registration worker process: the lost-contact sweep workflow and its daily Schedule.

`nuanliu worker registration` runs it. The Temporal client and worker are made here, in their
own process. The Schedule is created idempotently at start-up ("already exists" is fine).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.worker import Worker

from services.registration.activities import RegistrationActivities
from services.registration.app import open_database
from services.registration.workflows import LostContactSweepWorkflow, SweepInput
from shared.settings import Settings

log = logging.getLogger(__name__)

TASK_QUEUE = os.environ.get("NUANLIU_REGISTRATION_TASK_QUEUE", "nuanliu-registration")
SCHEDULE_ID = "registration-lost-contact-sweep"
SWEEP_EVERY = timedelta(days=1)


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor, task_queue: str) -> Worker:
    bound = RegistrationActivities(open_database(settings), settings.lost_contact_days)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[LostContactSweepWorkflow],
        activities=[bound.sweep_lost_contact],
        activity_executor=executor,
        max_concurrent_activities=4,
    )


async def ensure_schedule(
    client: Client, task_queue: str, schedule_id: str = SCHEDULE_ID, every: timedelta = SWEEP_EVERY
) -> bool:
    """Create the daily sweep schedule unless it exists; True if this call created it."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            LostContactSweepWorkflow.run,
            SweepInput(),
            id=f"{schedule_id}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    log.info("created schedule %s (every %s)", schedule_id, every)
    return True


async def connect_with_retry(settings: Settings) -> Client:
    """The dev server may still be starting beside us: keep trying, with backoff."""
    delay = 0.5
    while True:
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        except RuntimeError as error:
            log.warning("Temporal at %s not reachable yet (%s); retrying", settings.temporal_address, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def run_worker(settings: Settings) -> None:
    client = await connect_with_retry(settings)
    await ensure_schedule(client, TASK_QUEUE)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="activity") as executor:
        async with build_worker(client, settings, executor, TASK_QUEUE):
            log.info("registration worker polling %s", TASK_QUEUE)
            await stop.wait()


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
