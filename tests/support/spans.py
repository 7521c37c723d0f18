"""The process's tracing, on, with every finished span kept in memory for a test to read."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing


def recording_spans() -> InMemorySpanExporter:
    """Tracing on for the rest of this test process (the first call installs the provider), and
    a new in-memory exporter on it. Every trace is recorded, unless a parent says otherwise."""
    exporter = InMemorySpanExporter()
    provider = tracing.init_tracing("tests", exporter)
    assert provider is not None
    if exporter not in [p.span_exporter for p in provider._active_span_processor._span_processors]:  # noqa: SLF001
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
