"""Save the history of one cross-province transfer, run on the current code, for the replay tests.

Run after a change to TransferWorkflow that goes through `workflow.patched`, so that the next
change must replay this version's histories too:

    .venv/bin/python -m tests.workflows.record_history tests/workflows/histories/transfer_vN_name.json
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from services.transfer import search_attributes
from services.transfer.app import MIGRATIONS, open_database
from services.transfer.messages import AuditItem, DecisionRequest, ReportRequest
from services.transfer.settings import TransferSettings
from services.transfer.workflows import TransferWorkflow
from shared.db import migrate
from tests.support.infra import temporal_binary
from tests.workflows.transfer_support import RegistrationDouble, start_transfer, transfer_worker


async def record(target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        settings = TransferSettings.from_env(
            "transfer", {"TRANSFER_DATABASE_URL": f"sqlite:///{scratch}/transfer.db"}
        )
        database = open_database(settings)
        migrate(database, MIGRATIONS)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=list(search_attributes.ALL),
            dev_server_log_level="error",
        )
        try:
            queue = f"record-{uuid.uuid4()}"
            async with transfer_worker(env.client, queue, database, RegistrationDouble()):
                handle, _, member_id, plan = await start_transfer(env.client, queue, database, settings)
                for stage in plan.chain:
                    who = AuditItem(f"actor-{stage}", "branch_secretary", "decide:approve", f"req-{stage}")
                    request = DecisionRequest(
                        "approve", f"actor-{stage}", expected_stage=stage, audit=who, actor_name="张三"
                    )
                    if stage == "receiving_county":  # since v5: one stage decided for by the org above
                        request.acted_for_org_code = plan.stage_orgs[stage]
                        request.acted_for_org_name = "接收方县委组织部"
                        request.reason = "逾期代办"
                    await handle.execute_update(TransferWorkflow.decide, request)
                report = ReportRequest(member_id, AuditItem(member_id, "member", "report", "req-report"))
                await handle.execute_update(TransferWorkflow.report, report)
                await handle.result()
                history = await handle.fetch_history()
            target.write_text(history.to_json())
        finally:
            await env.shutdown()
            database.dispose()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1])))
