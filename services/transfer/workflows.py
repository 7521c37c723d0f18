"""Deterministic Temporal workflows of the transfer service: no I/O, no clocks, no SQL, no pika."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.transfer import activities


@dataclass
class ProbeInput:
    """A single dataclass argument, so fields can be added later without breaking histories."""

    text: str


# Proves the worker, the server and an activity round trip; used by readiness checks and tests.
@workflow.defn
class ProbeWorkflow:
    @workflow.run
    async def run(self, probe: ProbeInput) -> str:
        return await workflow.execute_activity(
            activities.echo, probe.text, start_to_close_timeout=timedelta(seconds=10)
        )
