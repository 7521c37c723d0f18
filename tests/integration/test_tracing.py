"""One check-in, one trace: from the HTTP request through the outbox, the relay's publication and
the broker to the consumer's notification insert (OpenTelemetry's in-memory exporter)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from services.notify import consumer as notify_events
from services.notify.app import open_database as open_notify_database
from services.registration.app import create_app
from services.registration.models import outbox as registration_outbox
from shared import tracing
from shared.bus import Consumer, Publisher, Topology
from shared.relay import Relay
from tests.support.builders import member_body, org_tree
from tests.support.infra import AMQP_URL
from tests.support.spans import recording_spans
from tests.support.tokens import ADMIN, bearer


@pytest.fixture
def spans():
    exporter = recording_spans()
    yield exporter
    exporter.clear()
    RequestsInstrumentor().uninstrument()


def notification_inserts(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [
        s for s in spans
        if "INSERT" in str((s.attributes or {}).get("db.statement", ""))
        and "notifications" in str((s.attributes or {}).get("db.statement", ""))
    ]  # fmt: skip


def test_a_check_in_is_one_trace_from_request_to_notification(spans, settings_for, migrated):
    migrated("registration")
    migrated("notify")
    registration = create_app(settings_for("registration"))  # instrumented: tracing is on
    client = registration.test_client()
    notify_database = open_notify_database(settings_for("notify"))
    tracing.instrument_engine(notify_database.engine)
    codes = org_tree(client, ADMIN)
    created = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=ADMIN)
    member_id = created.get_json()["id"]
    checked_in = client.post(
        "/api/v1/checkins",
        json={"member_id": member_id, "branch_code": codes["branch"], "kind": "self"},
        headers=bearer("member", codes["branch"], member_id),
    )
    assert checked_in.status_code == 201, checked_in.get_json()

    request = next(
        s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.name.endswith("/api/v1/checkins")
    )

    def in_trace_of_request() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.context.trace_id == request.context.trace_id]

    topology = Topology(settings_for("registration").broker_prefix)
    consumer = Consumer(
        AMQP_URL, topology, "test-trace-notify", ["registration.member_checked_in.v1"],
        handler=lambda envelope: notify_events.handle_event(notify_database, envelope),
    )  # fmt: skip
    thread = threading.Thread(target=consumer.run_forever, daemon=True)
    thread.start()
    try:
        assert consumer.ready.wait(15)
        relay = Relay(registration.extensions["nuanliu"].database, registration_outbox, Publisher(AMQP_URL, topology))
        while relay.run_once():
            pass
        # The session's outbox may hold other tests' check-ins too: wait for this one's insert.
        deadline = time.monotonic() + 20
        while not notification_inserts(in_trace_of_request()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        consumer.stop()
        thread.join(10)

    trace = in_trace_of_request()
    by_id = {s.context.span_id: s for s in trace}

    def chain(span):  # the span and its ancestors, up to the request
        while span is not None:
            yield span
            span = by_id.get(span.parent.span_id) if span.parent else None

    inserts = notification_inserts(trace)
    assert inserts, f"no notification insert in the check-in's trace: {[s.name for s in trace]}"
    kinds = [s.kind for s in chain(inserts[0])]
    # The insert runs under the consumer's span, which continues the relay's producer span, which
    # continues the request: one connected trace.
    assert SpanKind.CONSUMER in kinds and SpanKind.PRODUCER in kinds
    assert list(chain(inserts[0]))[-1] is request


def test_a_sampled_out_request_records_nothing_yet_carries_its_trace_onward(spans, settings_for, migrated):
    """Head sampling decides once, at the edge: a request whose `traceparent` says "not sampled"
    makes no spans (not even for its statements), and its event carries that trace id, still
    marked not sampled, so the relay and the consumer drop it too rather than start new traces."""
    migrated("registration")
    registration = create_app(settings_for("registration"))
    client = registration.test_client()
    codes = org_tree(client, ADMIN)
    member_id = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=ADMIN).get_json()["id"]
    trace_id = secrets.token_hex(16)
    checked_in = client.post(
        "/api/v1/checkins",
        json={"member_id": member_id, "branch_code": codes["branch"], "kind": "self"},
        headers={**bearer("member", codes["branch"], member_id), "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-00"},
    )
    assert checked_in.status_code == 201, checked_in.get_json()

    assert not [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
    table = registration_outbox.table
    with registration.extensions["nuanliu"].database.reader() as session:
        bodies = session.execute(select(table.c.body).where(table.c.event_type.like("%checked_in%"))).scalars()
        carried = [tp for tp in map(tracing.traceparent_in, bodies) if tp and tp.split("-")[1] == trace_id]
    assert len(carried) == 1 and carried[0].endswith("-00"), carried
    # What the relay does with it: a producer span in the same trace, not recorded, whose
    # traceparent (the AMQP header) keeps the trace id and the decision.
    producer = tracing.start_span("publish", carried[0], SpanKind.PRODUCER)
    assert not producer.is_recording()
    header = tracing.traceparent_of(producer)
    assert header is not None and header.split("-")[1] == trace_id and header.endswith("-00")
    producer.end()
    assert not [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
