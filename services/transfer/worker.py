"""The transfer worker process: workflows plus synchronous activities on a thread pool.

The Temporal client and worker are created here, in their own process, never before a fork.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from services.transfer import activities, workflows
from services.transfer.app import open_database
from services.transfer.registration import Registration
from shared.settings import Settings

log = logging.getLogger(__name__)


def all_workflows() -> list[type]:
    return [workflows.ProbeWorkflow, workflows.TransferWorkflow]


def all_activities(settings: Settings) -> Sequence[Callable[..., object]]:
    bound = activities.TransferActivities(open_database(settings), Registration.from_settings(settings))
    return [activities.echo, *bound.all()]


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=all_workflows(),
        activities=all_activities(settings),
        activity_executor=executor,
        max_concurrent_activities=16,
    )


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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor)
        async with worker:
            log.info("transfer worker polling %s", settings.temporal_task_queue)
            await stop.wait()


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
