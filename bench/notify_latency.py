"""Event-to-notification latency (p50, p99) at a steady 200 events/s, against raw pika.

Run: .venv/bin/python -m bench.notify_latency [--rate 200] [--seconds 10] [--postgres URL]

Pipeline: a producer commits one event per transaction into registration's outbox at the given
rate (as API requests would); the relay (default poll interval) and the batched notify consumer
run. Latency is from the event's time (set when the use case creates it) to the commit of its
notification. Baseline, same broker and run: raw pika publishes the same bodies at the same rate
with confirms into a quorum queue; latency is from publish to the consumer receiving it.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import threading
import time

from sqlalchemy import select

from bench.common import emit
from bench.notify_common import Pipeline, RawPika, checkin, databases
from services.registration.models import outbox as registration_outbox
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.events import Envelope, make_envelope
from shared.settings import Settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def paced(rate: float, seconds: float) -> list[float]:
    """When each event is due, evenly spaced from now."""
    start = time.perf_counter()
    return [start + i / rate for i in range(int(rate * seconds))]


def wait_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def baseline_latencies(rate: float, seconds: float) -> list[float]:
    raw = RawPika(f"bench-{secrets.token_hex(4)}.")
    consumer = threading.Thread(target=raw.consume_forever, kwargs={"record_times": True}, daemon=True)
    consumer.start()
    raw.ready.wait(15)
    connection, channel, state = raw.publisher()
    sent: dict[str, float] = {}
    for due in paced(rate, seconds):
        wait_until(due)
        envelope = make_envelope(MEMBER_CHECKED_IN, "registration", "bench", checkin("RAW"))
        sent[envelope.id] = time.time()
        raw.publish(channel, state, envelope.to_json(), envelope.id)
        connection.process_data_events(time_limit=0)
    deadline = time.monotonic() + 30
    while len(raw.receive_times) < len(sent) and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.01)
    connection.close()
    raw.stop()
    consumer.join(5)
    raw.delete()
    return [raw.receive_times[i] - sent[i] for i in sent if i in raw.receive_times]


def pipeline_latencies(
    rate: float, seconds: float, postgres: str | None, poll_interval: float
) -> tuple[list[float], str]:
    stored_at: dict[str, float] = {}

    def on_stored(envelopes: list[Envelope]) -> None:
        now = time.time()
        for envelope in envelopes:
            stored_at[envelope.id] = now

    with databases(postgres) as dbs:
        pipeline = Pipeline(dbs, f"bench-{secrets.token_hex(4)}.", on_stored=on_stored)
        pipeline.consumer.declare()
        pipeline.start(poll_interval=poll_interval)
        created: dict[str, float] = {}
        try:
            for due in paced(rate, seconds):
                wait_until(due)
                with dbs.registration.transaction() as session:
                    envelope = registration_outbox.add(session, MEMBER_CHECKED_IN, "bench", checkin("LAT"))
                created[envelope.id] = envelope.time.timestamp()
            deadline = time.monotonic() + 30
            while len(stored_at) < len(created) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            pipeline.stop()
        with dbs.registration.reader() as session:
            table = registration_outbox.table
            sent = dict(session.execute(select(table.c.event_id, table.c.sent_at)).all())
        relayed = [sent[i].timestamp() - created[i] for i in created if sent.get(i)]
        print(f"          of which outbox → broker-confirmed (relay): {describe(relayed)}")
        return [stored_at[i] - created[i] for i in created if i in stored_at], dbs.kind


def describe(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 0.50) * 1000:7.1f} ms   p99 {percentile(latencies, 0.99) * 1000:7.1f} ms"
        f"   mean {statistics.fmean(latencies) * 1000:6.1f} ms   n={len(latencies)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres", help="an admin URL; a throwaway database is created there")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=Settings.relay_poll_interval,
        help="the relay's idle poll (NUANLIU_RELAY_POLL_INTERVAL; default %(default)s s)",
    )
    args = parser.parse_args()
    expected = int(args.rate * args.seconds)
    baseline = baseline_latencies(args.rate, args.seconds)
    print(f"baseline  raw pika publish → receive at {args.rate:.0f}/s: {describe(baseline)}")
    pipeline, kind = pipeline_latencies(args.rate, args.seconds, args.postgres, args.poll_interval)
    print(
        f"pipeline  event → stored notification at {args.rate:.0f}/s ({kind}, relay poll "
        f"{args.poll_interval}s): {describe(pipeline)}"
    )
    if len(pipeline) < expected or len(baseline) < expected:
        print(f"WARNING   lost: pipeline {expected - len(pipeline)}, baseline {expected - len(baseline)}")
    print(
        f"ratio     pipeline / baseline: p50 {percentile(pipeline, 0.5) / percentile(baseline, 0.5):.1f}×"
        f"   p99 {percentile(pipeline, 0.99) / percentile(baseline, 0.99):.1f}×"
    )

    emit(
        f"event → notification latency p50 ({kind}; lower is better)",
        percentile(pipeline, 0.5) * 1000,
        "ms",
        "raw pika publish → receive p50",
        percentile(baseline, 0.5) * 1000,
    )
    emit(
        f"event → notification latency p99 ({kind}; lower is better)",
        percentile(pipeline, 0.99) * 1000,
        "ms",
        "raw pika publish → receive p99",
        percentile(baseline, 0.99) * 1000,
    )


if __name__ == "__main__":
    main()
