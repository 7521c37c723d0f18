"""Tracing with OpenTelemetry, across HTTP, the outbox, the broker and the consumer.

Off by default in the embedded stack: spans are made and exported only once a process calls
`init_tracing` with an exporter, or the standard `OTEL_*` variables ask for one
(`OTEL_TRACES_EXPORTER=otlp` or `OTEL_EXPORTER_OTLP_ENDPOINT`). Without it the API's no-op
tracer costs next to nothing.

The W3C `traceparent` of the request that made an event is written into the event's envelope
(a CloudEvents `traceparent` extension, so it travels in the outbox row), published as an AMQP
header by the relay, and continued by the consumer: one trace runs from the HTTP request to the
notification it caused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy import Engine

_PROPAGATOR = TraceContextTextMapPropagator()
# Regular expressions matched (searched) against a request's URL.
UNTRACED_PATHS = r"/healthz$,/readyz$,/metrics$"
_state: dict[str, Any] = {"provider": None}


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter) or bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def init_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install a tracer provider for this process once; None when tracing is off.

    `exporter` is for tests (the SDK's in-memory exporter, spans exported at once, every trace
    recorded); otherwise the OTLP exporter reads its endpoint and headers, and the sampler its
    choice, from the standard `OTEL_*` variables (`OTEL_TRACES_SAMPLER`: production's manifests
    set parent-based sampling of a share of traces, docs/observability.md)."""
    if _state["provider"] is not None:
        return _state["provider"]
    if exporter is None and not tracing_requested():
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    resource = _resource(service)
    if exporter is not None:
        # Tests see every trace whatever the environment says (a sampled-out parent still wins).
        provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _state["provider"] = provider
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    # The instrumentations' HTTP metrics (duration histograms, active requests) would go to
    # OpenTelemetry metrics, which no process exports (metrics are prometheus-client's,
    # shared/metrics.py): a no-op meter skips their attribute work on every call.
    RequestsInstrumentor().instrument(meter_provider=NoOpMeterProvider())
    return provider


def _resource(service: str) -> Resource:
    """The process's resource, with its hash computed once.

    The OTLP encoder groups every exported span by resource, and the SDK's `Resource.__hash__`
    serialises the attributes to JSON on each call: ~7 µs per span, for a value that never
    changes (a resource is immutable)."""
    from opentelemetry.sdk.resources import Resource

    class HashedOnce(Resource):
        def __init__(self, attributes: Mapping[str, Any], schema_url: str | None = None) -> None:
            super().__init__(attributes, schema_url)
            self._hash = super().__hash__()

        def __hash__(self) -> int:
            return self._hash

    created = Resource.create({"service.name": f"nuanliu-{service}"})
    return HashedOnce(created.attributes, created.schema_url)


def tracing_on() -> bool:
    return _state["provider"] is not None


def instrument_app(app: Flask, engine: Engine | None = None) -> None:
    """Spans for every request of a Flask app and every statement on its engine (when on)."""
    if not tracing_on():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    # No spans for probes and scrapes (noise, every few seconds); no SQL-comment tags, which
    # only a commenter-enabled engine would read and which cost a context per request; its HTTP
    # server metrics to a no-op meter, as for the requests instrumentation (init_tracing).
    FlaskInstrumentor().instrument_app(
        app,
        excluded_urls=UNTRACED_PATHS,
        enable_commenter=False,
        meter_provider=NoOpMeterProvider(),
    )
    if engine is not None:
        instrument_engine(engine)


def instrument_engine(engine: Engine) -> None:
    """Spans for every statement on this engine (when on). The instrumentor is a singleton that
    instruments one engine per process; a service's processes have several (writer, reader,
    other services' in tests), so each gets its own engine tracer."""
    if not tracing_on() or engine in _state.setdefault("engines", set()):
        return
    from opentelemetry.metrics import NoOpUpDownCounter

    # The pool gauges the instrumentation offers go to OpenTelemetry metrics, which no process
    # exports (metrics are prometheus-client's, shared/metrics.py): a no-op costs nothing per
    # checkout.
    _statement_tracer_class()(
        tracer("nuanliu.sqlalchemy"), engine, NoOpUpDownCounter("db.client.connections.usage")
    )
    _state["engines"].add(engine)


def _statement_tracer_class() -> type:
    """The SDK's engine tracer, skipping statements whose trace is not being recorded and
    making a recorded statement's span with less work.

    With head sampling most requests are sampled out: their server span is a non-recording
    span, and the parent-based sampler would drop each statement's span anyway. The stock
    tracer still reads the URL, the database name and the statement's first word and starts a
    span for every statement before learning that; here a statement under a sampled-out parent
    returns at once. A statement with no parent (a worker's own query) still goes to the
    sampler as before.

    For a recorded statement the stock tracer, on every statement, asks the driver for the
    database name, rebuilds the connection's attributes from the URL, splits the whole SQL text
    into words twice to name the span (its first word), and sets the attributes one by one on
    the started span (a lock and a validation each): ~100 µs of a check-in's three statements.
    Here the connection's attributes and database name are read once per engine (one tracer
    per engine, one database per engine), the span name once per distinct statement text, and
    the same attributes, built by the instrumentation's own semantic-convention helpers, are
    given to `start_span` at once. Same span name, kind and attributes
    (tests/unit/test_tracing_statements.py compares them with the stock tracer's)."""
    if "statement_tracer" in _state:
        return _state["statement_tracer"]
    from opentelemetry.instrumentation._semconv import _set_db_operation, _set_db_statement, _set_db_system
    from opentelemetry.instrumentation.sqlalchemy.engine import (
        EngineTracer,
        _get_attributes_from_cursor_or_conn,
        _get_attributes_from_url,
        _get_db_name_from_cursor_or_conn,
    )
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    names_kept = 1024  # distinct statement texts an engine's span-name cache holds
    pool_events = {"connect", "close", "checkin", "checkout"}

    class StatementTracer(EngineTracer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._connection: tuple[dict[str, Any], str | None] | None = None
            self._span_names: dict[str, str] = {}

        def _before_cur_exec(
            self, conn: Any, cursor: Any, statement: Any, params: Any, context: Any, executemany: bool
        ) -> tuple[Any, Any]:
            parent = trace.get_current_span().get_span_context()
            if parent.is_valid and not parent.trace_flags.sampled:
                return statement, params
            if self.enable_commenter or not isinstance(statement, str) or not is_instrumentation_enabled():
                return super()._before_cur_exec(conn, cursor, statement, params, context, executemany)
            if self._connection is None:
                self._connection = self._connection_attributes(conn, cursor)
            connection_attributes, db_name = self._connection
            name = self._span_names.get(statement)
            if name is None:
                if len(self._span_names) >= names_kept:
                    self._span_names.clear()
                name = self._span_names[statement] = self._operation_name(db_name, statement)
            attributes = dict(connection_attributes)
            _set_db_statement(attributes, statement, self._sem_conv_opt_in_mode_db)
            _set_db_system(attributes, self.vendor, self._sem_conv_opt_in_mode_db)
            _set_db_operation(attributes, name, self._sem_conv_opt_in_mode_db)
            context._otel_span = self.tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
            return statement, params

        @classmethod
        def _register_event_listener(cls, target: Any, identifier: str, func: Any, *args: Any, **kw: Any) -> None:
            # The pool gauges' listeners are not registered: each checkout and checkin would
            # build two attribute dicts for a no-op counter (instrument_engine) and pay the
            # engine's event dispatch, ~15–30 µs a request, sampled or not.
            if identifier not in pool_events:
                super()._register_event_listener(target, identifier, func, *args, **kw)

        def _connection_attributes(self, conn: Any, cursor: Any) -> tuple[dict[str, Any], str | None]:
            """What the stock tracer derives from the URL or the cursor on every statement."""
            modes = (self._sem_conv_opt_in_mode_db, self._sem_conv_opt_in_mode_http)
            attributes, found = _get_attributes_from_url(conn.engine.url, *modes)
            if not found:
                attributes = _get_attributes_from_cursor_or_conn(self.vendor, conn, cursor, attributes, *modes)
            return attributes, _get_db_name_from_cursor_or_conn(self.vendor, conn, cursor)

    _state["statement_tracer"] = StatementTracer
    return StatementTracer


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None outside one (or with tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


@contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Run the block as a continuation of the trace `traceparent` names (if any)."""
    if not traceparent or not tracing_on():
        yield
        return
    token = otel_context.attach(_PROPAGATOR.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


def start_span(name: str, traceparent: str | None, kind: trace.SpanKind, **attributes: str) -> trace.Span:
    """A span continuing `traceparent` (a new trace without one); the caller ends it."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    return tracer("nuanliu").start_span(name, context=parent, kind=kind, attributes=attributes)


def traceparent_of(span: trace.Span) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def traceparent_in(body: bytes | str) -> str | None:
    """The `traceparent` extension of an envelope's JSON, without validating the rest."""
    import json

    try:
        value = json.loads(body).get("traceparent")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None
