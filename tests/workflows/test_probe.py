"""The worker runs a workflow and an activity through a real Temporal server."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.worker import Worker

from tests.workflows.probe_support import ProbeInput, ProbeWorkflow, echo

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_probe_workflow_round_trip(temporal_env, task_queue):
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal_env.client,
            task_queue=task_queue,
            workflows=[ProbeWorkflow],
            activities=[echo],
            activity_executor=executor,
        ):
            result = await temporal_env.client.execute_workflow(
                ProbeWorkflow.run, ProbeInput("你好"), id=f"probe-{task_queue}", task_queue=task_queue
            )
    assert result == "echo: 你好"
