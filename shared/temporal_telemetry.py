"""What the Temporal SDK tells about itself, and the traces that cross into workflows.

Each worker process may export the SDK's own metrics (workflow task and activity
schedule-to-start latency, polls, failures) in Prometheus form on `NUANLIU_TEMPORAL_METRICS_PORT`:
the SDK's core serves them itself, so they live on a port of their own beside the process's
health port. With tracing on, clients and workers carry the trace of the request that sent an
update into the workflow and its activities (temporalio.contrib.opentelemetry).
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from shared import tracing

_runtime: dict[str, Runtime] = {}


def worker_runtime() -> Runtime | None:
    """A runtime exporting SDK metrics, once per process; None when no port is configured."""
    port = os.environ.get("NUANLIU_TEMPORAL_METRICS_PORT")
    if not port:
        return None
    if "runtime" not in _runtime:
        host = os.environ.get("NUANLIU_HEALTH_HOST", "0.0.0.0")
        _runtime["runtime"] = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
        )
    return _runtime["runtime"]


def interceptors() -> list[Any]:
    """The tracing interceptor for clients and workers when tracing is on; none otherwise."""
    if not tracing.tracing_on():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def client_options() -> dict[str, Any]:
    """Keyword arguments for `Client.connect`: the metrics runtime and the interceptors."""
    options: dict[str, Any] = {}
    runtime = worker_runtime()
    if runtime is not None:
        options["runtime"] = runtime
    found = interceptors()
    if found:
        options["interceptors"] = found
    return options
