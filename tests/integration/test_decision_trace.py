"""One decision, one trace: from the HTTP request through the workflow update into the workflow's
activity (OpenTelemetry's in-memory exporter; Temporal's TracingInterceptor on both sides)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.settings import Settings
from shared.temporal_telemetry import interceptors
from tests.integration.test_transfer_api import apply_for, registration_url, tree  # noqa: F401 (fixtures)
from tests.support.spans import recording_spans
from tests.support.tokens import bearer
from tests.support.transfer_live import live_transfer_api


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    yield recording_spans()
    RequestsInstrumentor().uninstrument()


@pytest.fixture(scope="module")
def traced(
    spans: InMemorySpanExporter,
    settings_for: Callable[..., Settings],
    migrated: Any,
    registration_url: str,  # noqa: F811
) -> Iterator[FlaskClient]:
    """The transfer API and a worker whose clients carry traces (tracing is on before they connect)."""
    migrated("transfer")
    with live_transfer_api(
        settings_for, registration_url, interceptors=interceptors(), worker_threads=8
    ) as client:
        yield client


def test_a_decision_is_one_trace_from_request_into_the_workflows_activity(
    spans: InMemorySpanExporter,
    traced: FlaskClient,
    registration_url: str,  # noqa: F811
    tree: dict[str, str],  # noqa: F811
) -> None:
    transfer_id, _member = apply_for(traced, registration_url, tree["B1"], tree["B2"])
    spans.clear()
    response = traced.post(
        f"/api/v1/transfers/{transfer_id}/decisions",
        json={"decision": "approve"},
        headers=bearer("branch_secretary", tree["B1"], "sec-trace"),
    )
    assert response.status_code == 200, response.get_json()

    def finished() -> list[Any]:
        return list(spans.get_finished_spans())

    request = next(s for s in finished() if s.kind == SpanKind.SERVER and s.name.endswith("/decisions"))
    sent = next(
        s
        for s in finished()
        if s.name == "StartWorkflowUpdate:decide" and s.context.trace_id == request.context.trace_id
    )
    # The SDK keeps one trace per workflow run: the update's handler lives in the run's trace and
    # links to the request's span that sent it; the step it applies runs in that same trace.
    deadline = time.monotonic() + 30
    handled: list[Any] = []
    activities: list[Any] = []
    while time.monotonic() < deadline and not (handled and activities):
        handled = [
            s for s in finished()
            if s.name == "HandleUpdate:decide" and any(link.context.span_id == sent.context.span_id for link in s.links)
        ]  # fmt: skip
        activities = [
            s for s in finished()
            if handled and s.name == "RunActivity:record_step" and s.context.trace_id == handled[0].context.trace_id
        ]  # fmt: skip
        time.sleep(0.2)
    names = sorted({s.name for s in finished()})
    assert handled, f"no update handler linked to the request's update: {names}"
    assert activities, f"no record_step activity in the workflow's trace: {names}"
