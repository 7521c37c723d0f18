"""What telemetry costs a check-in in CPU, measured so that a loaded shared machine blurs it
least: one process holds the registration API twice on the same PostgreSQL database — once with
telemetry off, once with metrics, the access line and OTLP tracing on — and sends batches of
check-ins through the Flask test client to each in turn, round after round, so a burst of other
work hits every mode alike (a third copy has metrics and the access line without tracing).
Tracing runs with every trace recorded, with the production default
share (--ratio, parent-based) and with none recorded (what a sampled-out request costs); the
sampler is switched between batches. The span exporter's work is measured apart: spans queue
during the run and one flush at the end gives the CPU per exported span, charged to each mode
by the spans it made. Ratios are off / on of the median batch's CPU per check-in.

    .venv/bin/python -m bench.observability_cpu [--rounds 40] [--batch 20] [--ratio 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from bench.common import emit
from bench.registration_checkins import prepare
from bench.registration_common import fresh_postgres

WARM_UP_ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--ratio", type=float, default=0.1)
    args = parser.parse_args()

    from bench.observability_overhead import OtlpSink

    sink = ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    with fresh_postgres() as url:
        branch, tokens = prepare(url)
        os.environ.update(
            REGISTRATION_DATABASE_URL=url,
            NUANLIU_VAR_DIR=tempfile.mkdtemp(prefix="nuanliu-bench-cpu-"),
            PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="nuanliu-bench-metrics-"),
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink.server_address[1]}",
            # Spans wait in the queue until the end, where their export is measured alone.
            OTEL_BSP_SCHEDULE_DELAY="100000000",
            OTEL_BSP_MAX_QUEUE_SIZE="10000000",
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10000000",
        )
        results = _measure(branch, tokens, args)
    sink.shutdown()
    _report(results, args)


def _measure(branch: str, tokens: list[tuple[str, str]], args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

    from services.registration.app import create_app
    from shared import tracing

    os.environ.update(NUANLIU_REQUEST_TELEMETRY="off", OTEL_TRACES_EXPORTER="none")
    app_off = create_app()
    os.environ.update(NUANLIU_REQUEST_TELEMETRY="on")
    app_metrics = create_app()
    os.environ.update(OTEL_TRACES_EXPORTER="otlp")
    app_on = create_app()
    for handler in logging.getLogger().handlers:  # access lines are formatted and written, not shown
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (open for the process's life)
    provider = tracing._state["provider"]  # noqa: SLF001 (the benchmark switches its sampler)
    sampler = provider.sampler
    assert isinstance(sampler, ParentBased), sampler
    ended = {"spans": 0}

    class CountEnded(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            ended["spans"] += 1

    provider.add_span_processor(CountEnded())
    modes: dict[str, tuple[Any, Any]] = {
        "off": (app_off.test_client(), None),
        "metrics + access line": (app_metrics.test_client(), None),
        "on, every trace": (app_on.test_client(), ALWAYS_ON),
        f"on, {args.ratio:.0%} sampled": (app_on.test_client(), TraceIdRatioBased(args.ratio)),
        "on, none sampled": (app_on.test_client(), ALWAYS_OFF),
    }
    sent = 0

    def check_in(client: Any) -> None:
        nonlocal sent
        member_id, token = tokens[(sent * 7919) % len(tokens)]
        sent += 1
        response = client.post(
            "/api/v1/checkins",
            json={"member_id": member_id, "branch_code": branch, "kind": "self"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)

    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    spans = dict.fromkeys(modes, 0)
    for round_ in range(WARM_UP_ROUNDS + args.rounds):
        if round_ == WARM_UP_ROUNDS:
            provider.force_flush()
            ended["spans"] = 0
        for mode, (client, root) in modes.items():
            if root is not None:
                sampler._root = root  # noqa: SLF001
            before, started = ended["spans"], time.process_time()
            for _ in range(args.batch):
                check_in(client)
            if round_ >= WARM_UP_ROUNDS:
                cpu[mode].append((time.process_time() - started) * 1e6 / args.batch)
                spans[mode] += ended["spans"] - before
    started = time.process_time()
    provider.force_flush()
    export_us_per_span = (time.process_time() - started) * 1e6 / max(1, sum(spans.values()))
    requests = args.rounds * args.batch
    return {
        mode: {
            "median_us": statistics.median(cpu[mode]),
            "spans_per_checkin": spans[mode] / requests,
            "export_us": spans[mode] / requests * export_us_per_span,
        }
        for mode in modes
    } | {"export_us_per_span": export_us_per_span}


def _report(results: dict[str, Any], args: argparse.Namespace) -> None:
    per_span = results.pop("export_us_per_span")
    off = results["off"]["median_us"]
    print(f"{args.rounds} rounds of {args.batch} check-ins per mode, interleaved, one process, PostgreSQL")
    print(f"export (encode + post, exporter thread): {per_span:.0f} µs per span")
    for mode, r in results.items():
        total = r["median_us"] + r["export_us"]
        print(f"{mode:<23} request {r['median_us']:6.0f} µs + export {r['export_us']:4.0f} µs = {total:6.0f} µs "
              f"({r['spans_per_checkin']:.2f} spans)  ratio off/on {off / total:.2f}")  # fmt: skip
    print(json.dumps(results))
    for mode, r in results.items():
        if mode != "off":
            emit(f"check-in CPU µs, telemetry {mode} (lower is better)", r["median_us"] + r["export_us"], "µs",
                 "telemetry off", off)  # fmt: skip


if __name__ == "__main__":
    main()
