"""Days-long deadlines at their production lengths, on a dev server with time skipping (v2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from services.transfer import search_attributes
from services.transfer.messages import DecisionRequest
from services.transfer.workflows import TransferWorkflow
from tests.support.infra import temporal_binary
from tests.workflows.transfer_support import (
    RegistrationDouble,
    events_of,
    projection,
    start_transfer,
    transfer_worker,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
        search_attributes=list(search_attributes.ALL),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


async def wait_for_events(database, transfer_id: str, expected: list[str]) -> list[str]:
    for _ in range(100):
        types = events_of(database, transfer_id)
        if types[-len(expected) :] == expected:
            return types
        await asyncio.sleep(0.1)
    return events_of(database, transfer_id)


async def test_production_deadlines_remind_overdue_and_expire(
    skipping_env, task_queue, migrated, settings_for
):
    database = migrated("transfer")
    settings = settings_for("transfer")  # 3d reminder, 7d overdue, 90d letter with a 7d reminder
    assert settings.stage_overdue_after == timedelta(days=7)
    async with transfer_worker(skipping_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, _, plan = await start_transfer(
            skipping_env.client, task_queue, database, settings, "cross_county"
        )
        await skipping_env.fast_forward(handle, timedelta(days=3, minutes=1))
        assert await wait_for_events(database, transfer_id, ["transfer.stage_reminder.v1"]) == [
            "transfer.stage_reminder.v1"
        ]
        row, _ = projection(database, transfer_id)
        assert not row.overdue
        await skipping_env.fast_forward(handle, timedelta(days=4))
        types = await wait_for_events(database, transfer_id, ["transfer.stage_overdue.v1"])
        assert types == ["transfer.stage_reminder.v1", "transfer.stage_overdue.v1"]
        row, _ = projection(database, transfer_id)
        assert row.overdue
        for stage in plan.chain:
            await handle.execute_update(TransferWorkflow.decide, DecisionRequest("approve", "a", None, stage))
        row, _ = projection(database, transfer_id)
        assert (row.letter_valid_until - row.letter_issued_on).days == 90
        await skipping_env.fast_forward(handle, timedelta(days=84))
        types = await wait_for_events(database, transfer_id, ["transfer.letter_expiring.v1"])
        assert types[-1] == "transfer.letter_expiring.v1"
        await skipping_env.fast_forward(handle, timedelta(days=7))
        assert await handle.result() == "expired"
    assert events_of(database, transfer_id)[-2:] == ["transfer.letter_expiring.v1", "transfer.expired.v1"]
