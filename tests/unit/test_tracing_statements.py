"""The API's statement tracer (shared/tracing.py) makes the same spans as the SQLAlchemy
instrumentation's stock tracer, with less work per statement: same name, kind and attributes,
on SQLite and (with TEST_DATABASE_URL) on PostgreSQL; none under a sampled-out parent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpUpDownCounter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, use_span
from sqlalchemy import Engine, create_engine, text

from shared import tracing
from shared.settings import normalise_postgres_url
from tests.support.infra import TEST_DATABASE_URL

STATEMENTS = [
    "SELECT 1",
    "/* a leading comment */ SELECT 2",
    "CREATE TABLE IF NOT EXISTS traced_t (id INTEGER PRIMARY KEY, name VARCHAR(20))",
    "INSERT INTO traced_t (id, name) VALUES (1, 'a')",
    "SELECT 1",  # again: the span name comes from the tracer's cache this time
]


def _urls(tmp_path: Any) -> list[str]:
    urls = [f"sqlite:///{tmp_path}/traced.db"]
    if TEST_DATABASE_URL:
        urls.append(normalise_postgres_url(TEST_DATABASE_URL))
    return urls


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


def _spans_of(tracer_class: type, url: str, exporter: InMemorySpanExporter, sampled_parent: bool | None) -> list:
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine: Engine = create_engine(url)
    tracer_class(provider.get_tracer("test"), engine, NoOpUpDownCounter("db.client.connections.usage"))
    try:
        with engine.begin() as connection:
            for statement in [*STATEMENTS, "DROP TABLE traced_t"]:
                if sampled_parent is None:
                    connection.execute(text(statement))
                    continue
                flags = TraceFlags(TraceFlags.SAMPLED if sampled_parent else TraceFlags.DEFAULT)
                parent = NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=flags))
                with use_span(parent):
                    connection.execute(text(statement))
    finally:
        engine.dispose()
    spans = [(s.name, s.kind, dict(s.attributes or {})) for s in exporter.get_finished_spans()]
    exporter.clear()
    return spans


@pytest.mark.parametrize("sampled_parent", [None, True])
def test_recorded_statements_get_the_stock_tracers_spans(tmp_path, exporter, sampled_parent):
    for url in _urls(tmp_path):
        stock = _spans_of(EngineTracer, url, exporter, sampled_parent)
        ours = _spans_of(tracing._statement_tracer_class(), url, exporter, sampled_parent)  # noqa: SLF001
        assert len(stock) == len(STATEMENTS) + 1
        assert ours == stock
        assert all("db.statement" in attributes and "db.system" in attributes for _, _, attributes in ours)


def test_statements_under_a_sampled_out_parent_make_no_span(tmp_path, exporter):
    for url in _urls(tmp_path):
        assert _spans_of(tracing._statement_tracer_class(), url, exporter, sampled_parent=False) == []  # noqa: SLF001
