"""Notify's retention worker on a real Temporal dev server: it puts its Schedule in place, and a
run of it prunes notify's database (here: an inbox row past its window)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.notify.models import inbox
from services.notify.retention import run_retention_worker
from shared.db import utcnow


def inbox_rows(database, event_id: str) -> int:
    with database.reader() as session:
        return int(
            session.scalar(select(func.count()).select_from(inbox).where(inbox.c.event_id == event_id)) or 0
        )


@pytest.mark.asyncio(loop_scope="session")
async def test_notify_retention_schedule_prunes_the_inbox(temporal_env, task_queue, migrated, settings_for):
    database = migrated("notify")
    old_event = str(uuid.uuid4())
    with database.transaction() as session:
        session.execute(
            inbox.insert(),
            {"consumer": "notify", "event_id": old_event, "event_type": "x", "processed_at": utcnow() - timedelta(days=45)},
        )  # fmt: skip
    settings = settings_for("notify").with_overrides(
        temporal_address=temporal_env.client.service_client.config.target_host, notify_task_queue=task_queue
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_retention_worker(settings, stop))
    handle = temporal_env.client.get_schedule_handle("notify-retention")
    try:
        for _ in range(100):  # the worker creates the schedule once it polls
            try:
                description = await handle.describe()
                break
            except Exception:  # noqa: BLE001 - not there yet
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the retention schedule was not created")
        assert description.schedule.spec.intervals[0].every == settings.retention_every
        await handle.trigger()
        for _ in range(200):
            if inbox_rows(database, old_event) == 0:
                break
            await asyncio.sleep(0.1)
        assert inbox_rows(database, old_event) == 0, "the scheduled retention run did not prune"
    finally:
        stop.set()
        await worker
        await handle.delete()
