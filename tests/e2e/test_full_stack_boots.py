"""Every Procfile process starts and the worker runs a workflow through its Temporal server."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client

from services.transfer.probe import ProbeInput, ProbeWorkflow


def test_all_four_apis_ready_and_worker_runs_workflows(full_stack):
    async def probe() -> str:
        client = await Client.connect(full_stack.env["TEMPORAL_ADDRESS"])
        return await client.execute_workflow(
            ProbeWorkflow.run,
            ProbeInput("ready"),
            id="probe-e2e",
            task_queue=full_stack.env.get("NUANLIU_TASK_QUEUE", "nuanliu-transfers"),
        )

    # A thread of its own: session-scoped async fixtures may hold an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(lambda: asyncio.run(asyncio.wait_for(probe(), 60))).result()
    assert result == "echo: ready"
