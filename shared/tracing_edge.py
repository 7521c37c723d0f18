"""Head sampling decided once, at the edge of a traced app, so that a request whose trace will not
be recorded skips the Flask instrumentation.

With parent-based sampling of a share of traces (production records one in ten), nine requests
in ten are sampled out, yet the Flask instrumentation still does all its per-request work for
them: it collects the request's attributes twice, builds `request.url` for its excluded-paths
check, extracts the parent, starts a span the sampler then drops and sets response attributes on
it (~200 µs of a check-in's ~1.3 ms on the benchmark machine, decision 0021). Here the outermost
WSGI callable asks the provider's sampler first, as the SDK would for the request's server span:
- recorded (or the path untraced): the request goes through the instrumentation unchanged. For
  a root span the trace id the sampler saw is the one the span gets (`EdgeTraceIds`), so the
  instrumentation's own call of the sampler decides the same.
- not recorded: the request skips the instrumentation and runs under the non-recording span the
  SDK would have made (same trace id, a new span id, flags and trace state from the sampler), so
  its statements record nothing and its events carry the trace onward marked "not sampled", as
  before.

The sampler sees the request's method as the span name (the route is not matched yet) and no
attributes: the standard samplers (always on/off, trace-id ratio, parent-based) use neither.

The span is current from the first before-request function to the last teardown function, as
the instrumentation's is: both hooks, the instrumentation's and the not-recorded one's, run first
and tear down last, so that the other before-request functions (limits, idempotency replays) run
inside the request's span, and a response one of them returns still gets it (before, such a
response had no span and the instrumentation logged a warning).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, request
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.wsgi import wsgi_getter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.util.http import parse_excluded_urls

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

# Where the edge's decision waits for the request's hooks (WSGI environ key).
_DECISION = "nuanliu.trace_decision"
# The trace id the sampler was asked about, for the request's root span (consumed once).
_edge_trace_id: ContextVar[int | None] = ContextVar("nuanliu_edge_trace_id", default=None)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class EdgeTraceIds(RandomIdGenerator):
    """Random ids, except that a request's root span takes the trace id its sampling was decided
    on at the edge."""

    def generate_trace_id(self) -> int:
        preset = _edge_trace_id.get()
        if preset is None:
            return super().generate_trace_id()
        _edge_trace_id.set(None)
        return preset


@dataclass(slots=True)
class _NotRecorded:
    context: otel_context.Context
    token: Token[otel_context.Context] | None = None


_UNTRACED = object()  # a probe or a scrape: no span at all, as the instrumentation excludes it


def sample_at_the_edge(app: Flask, provider: TracerProvider, untraced_paths: str) -> None:
    """Put the edge's decision in front of an app the Flask instrumentation has instrumented."""
    try:
        instrumented_before = app._before_request  # type: ignore[attr-defined]
        instrumented_teardown = app._teardown_request  # type: ignore[attr-defined]
        plain_app = app._original_wsgi_app  # type: ignore[attr-defined]
        app.before_request_funcs[None].remove(instrumented_before)
        app.teardown_request_funcs[None].remove(instrumented_teardown)
    except (AttributeError, KeyError, ValueError) as missing:
        # The attributes the instrumentation's own `uninstrument_app` relies on (0.66b1).
        raise RuntimeError("the Flask instrumentation no longer keeps its hooks where the edge expects") from missing
    if not isinstance(provider.id_generator, EdgeTraceIds):
        raise RuntimeError("the tracer provider must draw its ids with EdgeTraceIds")

    def before_request() -> Any:
        decision = request.environ.get(_DECISION)
        if decision is None:
            return instrumented_before()
        if isinstance(decision, _NotRecorded):
            decision.token = otel_context.attach(decision.context)
        return None

    def teardown_request(error: BaseException | None) -> None:
        decision = request.environ.get(_DECISION)
        if decision is None:
            instrumented_teardown(error)
        elif isinstance(decision, _NotRecorded) and decision.token is not None:
            otel_context.detach(decision.token)
            decision.token = None

    # First to run, last to tear down (Flask calls teardown functions in reverse order).
    app.before_request_funcs[None].insert(0, before_request)
    app.teardown_request_funcs[None].insert(0, teardown_request)
    # What `uninstrument_app` removes.
    app._before_request = before_request  # type: ignore[attr-defined]
    app._teardown_request = teardown_request  # type: ignore[attr-defined]
    app.wsgi_app = _EdgeSampling(app.wsgi_app, plain_app, provider, untraced_paths)  # type: ignore[method-assign]


class _EdgeSampling:
    def __init__(self, instrumented: WsgiApp, plain: WsgiApp, provider: TracerProvider, untraced_paths: str) -> None:
        self._instrumented = instrumented
        self._plain = plain
        self._provider = provider
        self._ids = provider.id_generator
        self._untraced = parse_excluded_urls(untraced_paths)
        self._propagator: object = None
        self._headers: tuple[str, ...] = ()

    def _parent_context(self, environ: dict[str, Any]) -> otel_context.Context:
        """What the global propagator extracts from the request, as the instrumentation would;
        without asking it when the request has none of the headers it reads (most requests)."""
        propagator = propagate.get_global_textmap()
        if propagator is not self._propagator:
            self._headers = tuple("HTTP_" + field.upper().replace("-", "_") for field in propagator.fields)
            self._propagator = propagator
        if not any(header in environ for header in self._headers):
            return otel_context.get_current()
        return propagate.extract(environ, getter=wsgi_getter)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._untraced.url_disabled(environ.get("PATH_INFO", "")):
            environ[_DECISION] = _UNTRACED
            return self._plain(environ, start_response)
        parent_context = self._parent_context(environ)
        parent = trace.get_current_span(parent_context).get_span_context()
        root = not parent.is_valid
        trace_id = self._ids.generate_trace_id() if root else parent.trace_id
        # Read each time: the sampler is the provider's, whatever it is now.
        sampled = self._provider.sampler.should_sample(
            parent_context, trace_id, environ.get("REQUEST_METHOD", ""), trace.SpanKind.SERVER
        )
        if sampled.decision.is_recording():
            preset = _edge_trace_id.set(trace_id if root else None)
            try:
                return self._instrumented(environ, start_response)
            finally:
                _edge_trace_id.reset(preset)
        # The span the SDK's tracer would have made for a dropped request (Tracer.start_span).
        random_id = self._ids.is_trace_id_random() if root else parent.trace_flags.random_trace_id
        flags = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID if random_id else trace.TraceFlags.DEFAULT)
        span_context = trace.SpanContext(
            trace_id, self._ids.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=sampled.trace_state
        )
        environ[_DECISION] = _NotRecorded(trace.set_span_in_context(trace.NonRecordingSpan(span_context), parent_context))
        return self._plain(environ, start_response)
