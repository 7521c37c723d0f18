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
from collections.abc import Iterator, Mapping, Sequence
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

    from shared.db import Database

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

    from shared.tracing_edge import EdgeTraceIds

    resource = _resource(service)
    # A request's root span takes the trace id its sampling was decided on (shared/tracing_edge.py).
    ids = EdgeTraceIds()
    if exporter is not None:
        # Tests see every trace whatever the environment says (a sampled-out parent still wins).
        provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON), id_generator=ids)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource, id_generator=ids)
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


def instrument_app(app: Flask, database: Database | None = None) -> None:
    """Spans for every request of a Flask app and every statement of its recorded requests on
    its database (when on).

    Sampling is decided before the Flask instrumentation runs: a request whose trace is not
    recorded skips it (shared/tracing_edge.py), and its statements run on an engine without the
    statement tracer's listeners (`Database.observe_statements_when`)."""
    if not tracing_on():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    from shared.tracing_edge import sample_at_the_edge

    # No spans for probes and scrapes (noise, every few seconds); no SQL-comment tags, which
    # only a commenter-enabled engine would read and which cost a context per request; its HTTP
    # server metrics to a no-op meter, as for the requests instrumentation (init_tracing).
    FlaskInstrumentor().instrument_app(
        app,
        excluded_urls=UNTRACED_PATHS,
        enable_commenter=False,
        meter_provider=NoOpMeterProvider(),
    )
    sample_at_the_edge(app, _state["provider"], UNTRACED_PATHS)
    if database is not None:
        instrument_database(database)


def instrument_database(database: Database) -> None:
    """Spans for the statements run on `database` while a recorded span is current (when on):
    a request's, a consumer's batch, a relay's publication, a Temporal activity's. Statements
    outside one (a relay's polls, a probe's ping) make no root traces of their own."""
    if tracing_on():
        database.observe_statements_when(_recording, instrument_engine)


def init_process_tracing(process: str) -> None:
    """Tracing for a background process (relay, consumer, worker) when the `OTEL_*` variables
    ask for it, with the statements of every service database it opens."""
    from shared.db import observe_databases

    if init_tracing(process) is not None:
        observe_databases(instrument_database)


def _recording() -> bool:
    return trace.get_current_span().is_recording()


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
    return _traceparent(trace.get_current_span().get_span_context())


def _traceparent(span_context: trace.SpanContext) -> str | None:
    """What the W3C propagator's `inject` writes as `traceparent`, without a carrier and a
    setter: it runs for every event a request writes, recorded or not (the trace state, which
    only the `tracestate` header would carry, is not kept in an envelope)."""
    if not span_context.is_valid:
        return None
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"


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


def start_span(
    name: str, traceparent: str | None, kind: trace.SpanKind, linked: Sequence[str] = (), **attributes: str
) -> trace.Span:
    """A span continuing `traceparent` (a new trace without one), linked to the spans the
    `linked` traceparents name; the caller ends it."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    links = [
        trace.Link(context)
        for context in (trace.get_current_span(_PROPAGATOR.extract({"traceparent": tp})).get_span_context() for tp in linked)
        if context.is_valid
    ]
    return tracer("nuanliu").start_span(name, context=parent, kind=kind, attributes=attributes, links=links)


def parent_and_links(traceparents: Sequence[str | None]) -> tuple[str | None, list[str]]:
    """For a span that handles several messages at once: the trace it continues, and the others
    it links to. It continues the first message whose trace is recorded (else the first), so a
    sampled check-in's trace keeps its consumer whichever place its event took in the batch."""
    present = [tp for tp in traceparents if tp]
    if not present:
        return None, []
    parent = next((tp for tp in present if _sampled(tp)), present[0])
    return parent, [tp for tp in present if tp != parent]


def _sampled(traceparent: str) -> bool:
    try:
        return bool(int(traceparent.rsplit("-", 1)[-1], 16) & trace.TraceFlags.SAMPLED)
    except ValueError:
        return False


def traceparent_of(span: trace.Span) -> str | None:
    return _traceparent(span.get_span_context())


def traceparent_in(body: bytes | str) -> str | None:
    """The `traceparent` extension of an envelope's JSON, without validating the rest."""
    import json

    try:
        value = json.loads(body).get("traceparent")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None
