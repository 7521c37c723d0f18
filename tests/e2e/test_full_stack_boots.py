"""Every Procfile process starts and the worker runs a workflow through its Temporal server."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client

from services.transfer.messages import Plan, TransferInput
from services.transfer.workflows import TransferWorkflow


def test_all_four_apis_ready_and_worker_runs_workflows(full_stack):
    # The production worker runs only the transfer workflow (the probe workflow is test support):
    # a transfer's first workflow task runs no activity, and the query is answered only once the
    # worker has run that task. No projection exists; the run is terminated before any step.
    async def probe() -> str:
        client = await Client.connect(full_stack.env["TEMPORAL_ADDRESS"])
        plan = Plan(
            "BR-PROBE-2", "same_county", ["sending_branch"], {"sending_branch": "BR-PROBE-1"}, {}, 1e6, "CO"
        )
        handle = await client.start_workflow(
            TransferWorkflow.run,
            TransferInput(f"probe-{uuid.uuid4()}", "m", "BR-PROBE-1", plan, None, 1e6, 2e6, 0),
            id=f"probe-e2e-{uuid.uuid4()}",
            task_queue=full_stack.env.get("NUANLIU_TASK_QUEUE", "nuanliu-transfers"),
        )
        try:
            return (await handle.query(TransferWorkflow.status)).status
        finally:
            await handle.terminate("probe over")

    # A thread of its own: session-scoped async fixtures may hold an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(lambda: asyncio.run(asyncio.wait_for(probe(), 60))).result()
    assert result == "pending_sending_branch"
