"""Sustained events per second from outbox row to stored notification, against raw pika.

Run: .venv/bin/python -m bench.notify_throughput [--events 5000] [--postgres URL]

Pipeline: rows already committed in registration's outbox; the relay (batched claims,
asynchronous publisher confirms) and the batched notify consumer (one transaction per batch:
inbox rows, notifications, in-app deliveries) run until every notification is stored.
Baseline, same broker and run: the same message bodies published with confirms (a window of
outstanding confirms) into a quorum queue and consumed with one manual ack each, no database.
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time

from bench.common import emit
from bench.notify_common import Pipeline, RawPika, add_outbox_rows, checkin, databases, notifications_stored
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.events import make_envelope

CONFIRM_WINDOW = 1000


def baseline_rate(events: int) -> float:
    raw = RawPika(f"bench-{secrets.token_hex(4)}.")
    bodies = [
        make_envelope(MEMBER_CHECKED_IN, "registration", "bench", checkin("RAW")) for _ in range(events)
    ]
    consumer = threading.Thread(target=raw.consume_forever, daemon=True)
    consumer.start()
    raw.ready.wait(15)
    connection, channel, state = raw.publisher()
    started = time.perf_counter()
    for envelope in bodies:
        raw.publish(channel, state, envelope.to_json(), envelope.id)
        while len(state.outstanding) >= CONFIRM_WINDOW:
            connection.process_data_events(time_limit=0)
    while state.outstanding:
        connection.process_data_events(time_limit=0.001)
    while raw.received < events:
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    connection.close()
    raw.stop()
    consumer.join(5)
    raw.delete()
    return events / elapsed


def pipeline_rate(events: int, postgres: str | None) -> tuple[float, str]:
    with databases(postgres) as dbs:
        branch = f"BENCH-{secrets.token_hex(3).upper()}"
        add_outbox_rows(dbs.registration, branch, events)
        pipeline = Pipeline(dbs, f"bench-{secrets.token_hex(4)}.")
        pipeline.consumer.declare()
        started = time.perf_counter()
        pipeline.start(poll_interval=0.01)
        try:
            while notifications_stored(dbs.notify, branch) < events:
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            pipeline.stop()
        return events / elapsed, dbs.kind


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--postgres", help="an admin URL; a throwaway database is created there")
    args = parser.parse_args()
    baseline = baseline_rate(args.events)
    print(f"baseline  raw pika (confirms + manual acks): {baseline:9.0f} events/s")
    rate, kind = pipeline_rate(args.events, args.postgres)
    print(f"pipeline  outbox → relay → broker → consumer → notification ({kind}): {rate:9.0f} events/s")
    print(f"ratio     pipeline / baseline: {rate / baseline:.2f}  (target ≥ 0.30)")
    emit(f"outbox → notification throughput ({kind})", rate, "events/s", "raw pika confirms + acks", baseline)


if __name__ == "__main__":
    main()
