"""Sampling decided at the edge (shared/tracing_edge.py): a Flask app with the Flask
instrumentation, a tracer provider of the test's own and the SDK's in-memory exporter; and the
statement tracer on a real database, only under recorded spans (`Database.observe_statements_when`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from flask import Flask, Response, request, stream_with_context
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from shared import tracing
from shared.db import Database
from shared.tracing_edge import EdgeTraceIds, sample_at_the_edge
from tests.support.spans import recording_spans

# What the Flask instrumentation keeps in the WSGI environ once its before-request hook ran.
INSTRUMENTATION_SPAN_KEY = "opentelemetry-flask.span_key"


class Traced:
    def __init__(self, sampler: Sampler) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=sampler, id_generator=EdgeTraceIds())
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.app = Flask("edge")
        self.instrumentation_ran: list[bool] = []

        @self.app.before_request
        def refuse_when_asked() -> Response | None:
            # Like a rate limit's 429 or an idempotent replay: a response before the view.
            if request.args.get("refuse"):
                return Response(tracing.current_traceparent() or "", status=429)
            return None

        @self.app.get("/traceparent")
        def traceparent() -> str:
            self.instrumentation_ran.append(INSTRUMENTATION_SPAN_KEY in request.environ)
            return tracing.current_traceparent() or ""

        @self.app.get("/streamed")
        def streamed() -> Response:
            def body() -> Iterator[str]:
                yield "first "
                yield tracing.current_traceparent() or "none"

            return Response(stream_with_context(body()))

        @self.app.get("/healthz")
        def healthz() -> str:
            return tracing.current_traceparent() or "none"

        FlaskInstrumentor().instrument_app(self.app, tracer_provider=self.provider, excluded_urls=tracing.UNTRACED_PATHS)
        sample_at_the_edge(self.app, self.provider, tracing.UNTRACED_PATHS)
        self.client = self.app.test_client()

    def server_spans(self) -> list:
        return [s for s in self.exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


def parts(traceparent: str) -> tuple[str, str, int]:
    _version, trace_id, span_id, flags = traceparent.split("-")
    return trace_id, span_id, int(flags, 16)


def test_the_edge_and_the_instrumentation_decide_alike_on_the_same_trace_id():
    """One in two sampled by trace id: every request the edge sends through the instrumentation
    is recorded under the trace id the edge drew, and no other is (were the span to draw a trace
    id of its own, the sampler would be asked about another id and disagree about half the time)."""
    traced = Traced(ParentBased(TraceIdRatioBased(0.5)))
    answered = [parts(traced.client.get("/traceparent").get_data(as_text=True)) for _ in range(200)]

    sampled = {trace_id for trace_id, _span, flags in answered if flags & 1}
    recorded = {format(s.context.trace_id, "032x") for s in traced.server_spans()}
    assert 60 < len(sampled) < 140
    assert recorded == sampled
    # The instrumentation ran for exactly the recorded ones.
    assert traced.instrumentation_ran == [bool(flags & 1) for _trace, _span, flags in answered]


def test_a_request_sampled_out_skips_the_instrumentation_yet_continues_its_callers_trace():
    traced = Traced(ParentBased(ALWAYS_ON))
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    answer = traced.client.get("/traceparent", headers={"traceparent": f"00-{caller_trace}-{caller_span}-00"})

    trace_id, span_id, flags = parts(answer.get_data(as_text=True))
    assert (trace_id, flags & 1) == (caller_trace, 0)
    assert span_id != caller_span  # the request's own (unrecorded) span
    assert traced.instrumentation_ran == [False]
    assert traced.server_spans() == []


def test_a_request_of_a_sampled_caller_is_recorded_in_the_callers_trace():
    traced = Traced(ParentBased(ALWAYS_OFF))  # new traces would not be recorded; the caller's are
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    answer = traced.client.get("/traceparent", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})

    trace_id, span_id, flags = parts(answer.get_data(as_text=True))
    [server] = traced.server_spans()
    assert (trace_id, flags & 1) == (caller_trace, 1)
    assert format(server.context.span_id, "016x") == span_id
    assert format(server.parent.span_id, "016x") == caller_span
    assert traced.instrumentation_ran == [True]


@pytest.mark.parametrize("sampler", [ALWAYS_ON, ALWAYS_OFF], ids=["recorded", "not recorded"])
def test_a_response_made_before_the_view_is_still_in_the_requests_trace(sampler):
    traced = Traced(ParentBased(sampler))
    answer = traced.client.get("/traceparent?refuse=1")

    assert answer.status_code == 429
    trace_id, _span, flags = parts(answer.get_data(as_text=True))
    recorded = traced.server_spans()
    if sampler is ALWAYS_ON:
        assert flags & 1 and [format(s.context.trace_id, "032x") for s in recorded] == [trace_id]
        assert recorded[0].attributes["http.status_code"] == 429
    else:
        assert not flags & 1 and recorded == []


@pytest.mark.parametrize("sampler", [ALWAYS_ON, ALWAYS_OFF], ids=["recorded", "not recorded"])
def test_a_streamed_body_leaves_no_trace_current(sampler):
    """Both paths end the request's context at its teardown, before a streamed body is written
    (the Flask instrumentation does so; the edge does the same)."""
    traced = Traced(ParentBased(sampler))
    assert traced.client.get("/streamed").get_data(as_text=True) == "first none"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_probes_have_no_trace():
    traced = Traced(ParentBased(ALWAYS_ON))
    assert traced.client.get("/healthz").get_data(as_text=True) == "none"
    assert traced.server_spans() == []


def test_the_edge_refuses_an_app_the_flask_instrumentation_did_not_instrument():
    provider = TracerProvider(id_generator=EdgeTraceIds())
    with pytest.raises(RuntimeError, match="Flask instrumentation"):
        sample_at_the_edge(Flask("plain"), provider, tracing.UNTRACED_PATHS)


def test_statements_are_traced_only_under_a_recorded_span(tmp_path):
    spans = recording_spans()
    database = Database(f"sqlite:///{tmp_path}/edge.db")
    tracing.instrument_database(database)
    untraced = tracing.tracer("tests")

    def statements() -> list[str]:
        return [s.name for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]

    with database.reader() as session:  # no span: a relay's poll, a probe's ping
        session.execute(text("SELECT 1"))
    sampled_out = trace.NonRecordingSpan(trace.SpanContext(1, 2, False))
    with trace.use_span(sampled_out, end_on_exit=False), database.transaction() as session:  # a sampled-out request
        session.execute(text("SELECT 2"))
    assert statements() == []
    # Nor does the engine the unrecorded ones ran on carry the statement listeners.
    assert not database.engine._has_events or database.is_sqlite  # noqa: SLF001 (SQLite's BEGIN listener)

    with untraced.start_as_current_span("recorded"):
        with database.transaction() as session:
            session.execute(text("SELECT 3"))
        with database.snapshot() as connection:
            connection.execute(text("SELECT 4"))
    assert [name.split()[0] for name in statements()].count("SELECT") == 2


def test_a_traceparent_is_written_as_the_w3c_propagator_writes_it():
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    for flags in (0x00, 0x01, 0x02, 0x03):
        span = trace.NonRecordingSpan(
            trace.SpanContext(int(secrets.token_hex(16), 16), int(secrets.token_hex(8), 16), False, trace.TraceFlags(flags))
        )
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(span))
        assert tracing.traceparent_of(span) == carrier["traceparent"]


def test_a_batch_continues_the_first_recorded_trace_and_links_the_others():
    unsampled, sampled, later = (f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{f}" for f in ("00", "01", "01"))
    assert tracing.parent_and_links([unsampled, None, sampled, later]) == (sampled, [unsampled, later])
    assert tracing.parent_and_links([unsampled, None]) == (unsampled, [])
    assert tracing.parent_and_links([None, None]) == (None, [])

    spans = recording_spans()
    span = tracing.start_span("process 3 events", sampled, SpanKind.CONSUMER, [unsampled, later])
    span.end()
    [finished] = [s for s in spans.get_finished_spans() if s.name == "process 3 events"]
    assert format(finished.context.trace_id, "032x") == sampled.split("-")[1]
    assert [format(link.context.trace_id, "032x") for link in finished.links] == [
        unsampled.split("-")[1], later.split("-")[1]
    ]  # fmt: skip
