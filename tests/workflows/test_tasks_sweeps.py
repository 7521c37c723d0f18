"""The tasks sweeps through a real Temporal server: the workflow, and the Schedule that runs it."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.tasks import worker as tasks_worker
from services.tasks.models import Task, outbox
from services.tasks.workflows import SweepInput, TaskSweepWorkflow
from shared.db import new_id, utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")


def insert_task(database, *, published_ago: timedelta, due_on: date) -> str:
    task_id = new_id()
    with database.transaction() as session:
        session.add(
            Task(
                id=task_id,
                title="清理河道",
                description="",
                category="environment",
                org_code="SWEEP-T",
                org_path="/CN/SWEEP-C/SWEEP-T/",
                county_code="SWEEP-C",
                capacity=2,
                claimed=0,
                points=10,
                due_on=due_on,
                status="open",
                officer_id="officer-sweep",
                progress=0,
                created_at=utcnow() - published_ago,
                published_at=utcnow() - published_ago,
            )
        )
    return task_id


def event_types(database, task_id: str) -> list[str]:
    with database.reader() as session:
        bodies = session.scalars(select(outbox.table.c.body).where(outbox.table.c.subject == task_id)).all()
    return [json.loads(body)["type"] for body in bodies]


async def test_sweep_workflow_opens_the_hall_and_flags_overdue_once(
    temporal_env, task_queue, settings_for, migrated
):
    database = migrated("tasks")
    stale = insert_task(database, published_ago=timedelta(days=8), due_on=date.today() - timedelta(days=2))
    fresh = insert_task(database, published_ago=timedelta(hours=1), due_on=date.today() + timedelta(days=5))
    settings = settings_for("tasks", tasks_task_queue=task_queue)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with tasks_worker.build_worker(temporal_env.client, settings, executor):
            sweep = SweepInput(open_hall_after_seconds=timedelta(days=7).total_seconds())
            first = await temporal_env.client.execute_workflow(
                TaskSweepWorkflow.run, sweep, id=f"sweep-{task_queue}-1", task_queue=task_queue
            )
            second = await temporal_env.client.execute_workflow(
                TaskSweepWorkflow.run, sweep, id=f"sweep-{task_queue}-2", task_queue=task_queue
            )
    assert stale in first.opened_to_hall and stale in first.flagged_overdue
    assert fresh not in first.opened_to_hall and fresh not in first.flagged_overdue
    assert stale not in second.opened_to_hall and stale not in second.flagged_overdue
    assert sorted(event_types(database, stale)) == ["tasks.task_opened_to_hall.v1", "tasks.task_overdue.v1"]
    assert event_types(database, fresh) == []


async def test_the_schedule_runs_the_sweeps(temporal_env, task_queue, settings_for, migrated):
    database = migrated("tasks")
    stale = insert_task(database, published_ago=timedelta(days=8), due_on=date.today() + timedelta(days=5))
    settings = settings_for("tasks", tasks_task_queue=task_queue, task_sweep_every=timedelta(seconds=1))
    client = temporal_env.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with tasks_worker.build_worker(client, settings, executor):
            await tasks_worker.ensure_schedule(client, settings)
            await tasks_worker.ensure_schedule(client, settings)  # a restart updates, never duplicates
            try:
                for _ in range(100):
                    if "tasks.task_opened_to_hall.v1" in event_types(database, stale):
                        break
                    await asyncio.sleep(0.2)
                description = await client.get_schedule_handle(tasks_worker.SCHEDULE_ID).describe()
            finally:
                await client.get_schedule_handle(tasks_worker.SCHEDULE_ID).delete()
    assert event_types(database, stale) == ["tasks.task_opened_to_hall.v1"]
    assert description.schedule.spec.intervals[0].every == timedelta(seconds=1)
