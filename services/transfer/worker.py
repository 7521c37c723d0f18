"""The transfer worker process: workflows plus synchronous activities on a thread pool.

The Temporal client and worker are created here, in their own process, never before a fork.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from services.transfer import activities, workflows
from services.transfer.app import open_database
from services.transfer.caller_proof import CallerProofInterceptor
from services.transfer.clients import Registration
from services.transfer.models import idempotency_keys, outbox
from services.transfer.settings import TransferSettings
from shared.retention import RetentionActivities, ensure_retention_schedule, standard_rules
from shared.retention_workflow import RetentionWorkflow
from shared.temporal import connect_with_retry, serve_until_signalled, temporal_tls

log = logging.getLogger(__name__)


def all_workflows() -> list[type]:
    return [workflows.TransferWorkflow]


def all_activities(settings: TransferSettings) -> Sequence[Callable[..., object]]:
    bound = activities.TransferActivities(open_database(settings), Registration.from_settings(settings))
    return bound.all()


def retention_activities(settings: TransferSettings) -> RetentionActivities:
    rules = standard_rules(
        outbox.table, idempotency_keys, settings.retention_sent_outbox, settings.retention_idempotency
    )
    return RetentionActivities(open_database(settings), rules, settings.retention_batch_size)


def build_worker(client: Client, settings: TransferSettings, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[*all_workflows(), RetentionWorkflow],
        activities=[*all_activities(settings), retention_activities(settings).prune],
        activity_executor=executor,
        max_concurrent_activities=16,
        # Updates that act for a person need the transfer API's proof (caller_proof.py).
        interceptors=[CallerProofInterceptor(settings.transfer_proof_key)],
    )


async def run_worker(settings: TransferSettings) -> None:
    client = await connect_with_retry(
        settings.temporal_address, settings.temporal_namespace, temporal_tls(settings)
    )
    log.info("transfer worker polling %s", settings.temporal_task_queue)
    await serve_until_signalled(
        lambda executor: build_worker(client, settings, executor),
        activity_threads=16,
        on_started=lambda: ensure_retention_schedule(
            client, "transfer", settings.temporal_task_queue, settings.retention_every
        ),
    )


def main(settings: TransferSettings) -> None:
    asyncio.run(run_worker(settings))
