"""Notify's retention: inbox rows and idempotency keys past their windows go; notifications past
a year move to `notifications_archive`, and their settled deliveries go.

Notify has no Temporal worker of its own (its background process is the dispatcher), so the
dispatcher process runs a small one on `notify_task_queue` for this Schedule alone, on a thread:
the dispatcher never waits for Temporal, and a Temporal outage only delays pruning."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from services.notify import domain
from services.notify.app import open_database
from services.notify.models import Delivery, Notification, idempotency_keys, inbox, notifications_archive
from services.notify.settings import NotifySettings
from shared.retention import RetentionActivities, Rule, ensure_retention_schedule, standard_rules
from shared.retention_workflow import RetentionWorkflow
from shared.temporal import connect_with_retry, temporal_tls

log = logging.getLogger(__name__)


def retention_rules(settings: NotifySettings) -> list[Rule]:
    notifications = Notification.__table__
    deliveries = Delivery.__table__
    return [
        *standard_rules(
            None, idempotency_keys, settings.retention_sent_outbox, settings.retention_idempotency
        ),
        Rule("inbox", inbox, "processed_at", settings.retention_inbox),
        Rule(
            "notifications",
            notifications,  # type: ignore[arg-type]
            "created_at",
            settings.retention_notifications,
            archive=notifications_archive,
        ),
        Rule(
            "deliveries",
            deliveries,  # type: ignore[arg-type]
            "updated_at",
            settings.retention_notifications,
            where=deliveries.c.status.in_([domain.SENT, domain.DEAD]),
        ),
    ]


async def run_retention_worker(settings: NotifySettings, stop: asyncio.Event | None = None) -> None:
    client = await connect_with_retry(
        settings.temporal_address, settings.temporal_namespace, temporal_tls(settings)
    )
    activities = RetentionActivities(
        open_database(settings), retention_rules(settings), settings.retention_batch_size
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retention") as executor:
        async with Worker(
            client,
            task_queue=settings.notify_task_queue,
            workflows=[RetentionWorkflow],
            activities=[activities.prune],
            activity_executor=executor,
        ):
            await ensure_retention_schedule(
                client, "notify", settings.notify_task_queue, settings.retention_every
            )
            log.info("notify retention worker polling %s", settings.notify_task_queue)
            await (stop or asyncio.Event()).wait()


def start_retention_thread(settings: NotifySettings) -> threading.Thread:
    """The retention worker on a daemon thread of the dispatcher process (it ends with it)."""

    def run() -> None:
        try:
            asyncio.run(run_retention_worker(settings))
        except Exception:  # the dispatcher goes on; pruning waits for the next start
            log.exception("notify retention worker stopped")

    thread = threading.Thread(target=run, name="notify-retention", daemon=True)
    thread.start()
    return thread
