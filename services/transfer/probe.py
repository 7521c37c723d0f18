"""The probe workflow: proves the worker, the server and an activity round trip.

A module of its own: the sandbox re-imports a workflow's module for every run of it, so keeping
the probe out of workflows.py spares every transfer run defining it again.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow


@dataclass
class ProbeInput:
    """A single dataclass argument, so fields can be added later without breaking histories."""

    text: str


# Used by readiness checks and tests.
@workflow.defn
class ProbeWorkflow:
    @workflow.run
    async def run(self, probe: ProbeInput) -> str:
        return await workflow.execute_activity(
            "echo", probe.text, start_to_close_timeout=timedelta(seconds=10), result_type=str
        )
