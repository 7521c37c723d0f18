"""The probe workflow and its activity: prove a worker, the server and an activity round trip.

Test support, not production code: the production worker runs only the transfer workflow.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class ProbeInput:
    """A single dataclass argument, so fields can be added later without breaking histories."""

    text: str


@activity.defn
def echo(text: str) -> str:
    return f"echo: {text}"


@workflow.defn
class ProbeWorkflow:
    @workflow.run
    async def run(self, probe: ProbeInput) -> str:
        return await workflow.execute_activity(
            "echo", probe.text, start_to_close_timeout=timedelta(seconds=10), result_type=str
        )
