"""One check-in, one trace, across the real processes: the registration API under gunicorn, its
outbox relay and notify's consumer, each exporting over OTLP/HTTP (as production would, to a
collector) to a receiver in the test. New traces are never sampled here (ratio 0): a trace is
recorded only because its caller's `traceparent` says so, and every process must follow that."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.test_checkin_slice import create_branch
from tests.support.builders import member_body
from tests.support.otlp_sink import OtlpSink, ReceivedSpan
from tests.support.stack import Stack
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def sink() -> Iterator[OtlpSink]:
    receiver = OtlpSink()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def traced_stack(stack_env, sink, tmp_path_factory) -> Iterator[Stack]:
    env = {
        **stack_env,
        # Its own queues: the slice stack's consumer must not take these events.
        "NUANLIU_BROKER_PREFIX": stack_env["NUANLIU_BROKER_PREFIX"] + "traces.",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    stack = Stack(tmp_path_factory.mktemp("traces-logs"), env)
    stack.start("registration-api", "registration-relay", "notify-consumer")
    try:
        stack.wait_ready("registration")
        yield stack
    finally:
        stack.stop()


def traceparent(sampled: bool) -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def test_a_sampled_check_in_is_one_trace_through_api_relay_and_consumer(traced_stack, sink):
    base = traced_stack.url("registration")
    branch = create_branch(base)
    member = requests.post(f"{base}/api/v1/members", json=member_body(branch), headers=ADMIN, timeout=10).json()
    me = bearer("member", branch, sub=member["id"])
    body = {"member_id": member["id"], "branch_code": branch, "kind": "self"}
    # The unsampled one first: should the consumer take both in one batch, the batch's span must
    # still continue the sampled trace.
    dropped, _caller, dropped_header = traceparent(sampled=False)
    kept, caller_span, kept_header = traceparent(sampled=True)
    for header in (dropped_header, kept_header):
        answer = requests.post(
            f"{base}/api/v1/checkins", json=body, headers={**me, "traceparent": header}, timeout=10
        )
        assert answer.status_code == 201, answer.text

    def chain_to_the_request() -> list[ReceivedSpan]:
        """A consumer INSERT in the kept trace and its ancestors, up to the span whose parent
        is not (yet) received. Each process exports on its own schedule, and a child ends (and
        may leave) before its parent: wait for the whole chain, not for its first span."""
        spans = {s.span_id: s for s in sink.in_trace(kept)}
        insert = next(
            (
                s for s in spans.values()
                if s.service == "nuanliu-notify-consumer" and s.kind == "client" and s.name.startswith("INSERT")
            ),
            None,
        )  # fmt: skip
        chain = [insert] if insert else []
        while chain and chain[-1].parent_id in spans:
            chain.append(spans[chain[-1].parent_id])
        return chain

    deadline = time.monotonic() + 60
    chain = chain_to_the_request()
    while (not chain or chain[-1].parent_id != caller_span) and time.monotonic() < deadline:
        time.sleep(0.2)
        chain = chain_to_the_request()
    assert chain and chain[-1].parent_id == caller_span, (
        f"chain so far: {chain}\nspans in the trace: {sink.in_trace(kept)}\n"
        f"{traced_stack.tail('notify-consumer')}\n{traced_stack.tail('registration-relay')}"
    )
    spans = {s.span_id: s for s in sink.in_trace(kept)}
    # From the notification's INSERT up to the request, each process's span under the one before.
    assert [(s.service, s.kind) for s in chain if s.kind != "client"] == [
        ("nuanliu-notify-consumer", "consumer"),
        ("nuanliu-registration-relay", "producer"),
        ("nuanliu-registration", "server"),
    ], chain
    assert chain[-1].parent_id == caller_span and chain[-1].name == "POST /api/v1/checkins"
    # The request's own statements are in it too, under the server span.
    assert any(
        s.service == "nuanliu-registration" and s.kind == "client" and s.parent_id == chain[-1].span_id
        for s in spans.values()
    )
    # The sampled-out check-in, handled before the kept one, left nothing in any process. When
    # the consumer took the kept event in a batch with earlier ones (this test's own orgs and
    # member, sampled out), its span continued the kept trace, not the first message's, and links
    # to the others, which recorded nothing either.
    assert sink.in_trace(dropped) == []
    consumer = chain[-3]
    assert kept not in consumer.linked_trace_ids
    assert all(sink.in_trace(linked) == [] for linked in consumer.linked_trace_ids)
    # Nor did this test's requests without a `traceparent` start traces (ratio 0), nor did any
    # process trace a statement outside a recorded span (a relay's polls, a probe's ping).
    assert [s for s in sink.spans if s.kind == "server" and s.trace_id != kept] == []
    assert [s for s in sink.spans if s.kind == "client" and not s.parent_id] == []
