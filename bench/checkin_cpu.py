"""CPU per check-in inside the registration API, measured where a shared machine cannot blur it:
the process's own CPU (time.process_time) per request through the Flask test client, against a
prepared PostgreSQL database, and the database round trips each request makes.

Telemetry off (`NUANLIU_REQUEST_TELEMETRY=off`, no tracing) and on (metrics in multiprocess
mode, the JSON access line, OTLP tracing at 100% to a local sink that drops the exports) run
as child processes in turn against the same database, round after round; the ratio off/on of
CPU per check-in is what the telemetry costs in throughput on a CPU-bound machine.

    .venv/bin/python -m bench.checkin_cpu [--requests 1500] [--rounds 3] [--parts] [--profile off|on|…]

`--parts` adds metrics + access line alone, tracing alone, and tracing sampled at 10%
(OTEL_TRACES_SAMPLER=parentbased_traceidratio); `--profile MODE` prints cProfile (CPU clock) of
that mode's requests on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from bench.common import emit
from bench.registration_checkins import prepare
from bench.registration_common import fresh_postgres


def _child(url: str, branch: str, tokens: list[tuple[str, str]], requests: int, profile: bool) -> None:
    from sqlalchemy import event

    from services.registration.app import create_app

    app = create_app()
    engine = app.extensions["nuanliu"].database.engine
    statements = {"count": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        statements["count"] += 1

    client = app.test_client()

    def one(sent: int) -> None:
        member_id, token = tokens[(sent * 7919) % len(tokens)]
        response = client.post(
            "/api/v1/checkins",
            json={"member_id": member_id, "branch_code": branch, "kind": "self"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)

    for sent in range(100):  # warm-up: caches, prepared statements, pool
        one(sent)
    statements["count"] = 0
    profiler = cProfile.Profile(time.process_time) if profile else None
    started_cpu, started = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for sent in range(requests):
        one(sent)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    # The span exporter's thread works after the loop too: let it finish inside the measurement.
    from shared import tracing

    if tracing.tracing_on():
        started_flush = time.process_time()
        tracing._state["provider"].force_flush()
        cpu += time.process_time() - started_flush
    print(json.dumps({"cpu_ms": cpu * 1000 / requests, "wall_ms": wall * 1000 / requests,
                      "statements": statements["count"] / requests}))  # fmt: skip
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(30)


def _run(mode: str, env: dict[str, str], args: argparse.Namespace, prepared: str) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "bench.checkin_cpu",
        "--child",
        prepared,
        "--requests",
        str(args.requests),
    ]
    if args.profile == mode:
        command.append("--with-profile")
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    if args.profile == mode:
        print(done.stderr, file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--profile", choices=["off", "on", "metrics", "tracing", "on, 10%", "none"], default="none"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also metrics+log alone, tracing alone, and tracing sampled at 10%%",
    )
    parser.add_argument("--child")
    parser.add_argument("--with-profile", action="store_true")
    args = parser.parse_args()
    if args.child:
        with open(args.child) as file:
            prepared = json.load(file)
        _child(prepared["url"], prepared["branch"], prepared["tokens"], args.requests, args.with_profile)
        return

    from bench.observability_overhead import OtlpSink

    sink = ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    var = tempfile.mkdtemp(prefix="nuanliu-bench-cpu-")
    with fresh_postgres() as url:
        branch, tokens = prepare(url)
        prepared = os.path.join(var, "prepared.json")
        with open(prepared, "w") as file:
            json.dump({"url": url, "branch": branch, "tokens": tokens}, file)
        common = {"REGISTRATION_DATABASE_URL": url, "NUANLIU_VAR_DIR": var}
        modes = {
            "off": {**common, "NUANLIU_REQUEST_TELEMETRY": "off", "OTEL_TRACES_EXPORTER": "none"},
            "on": {
                **common,
                "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="nuanliu-bench-metrics-"),
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}",
            },
        }
        if args.parts:
            modes["metrics"] = {**modes["on"], "OTEL_TRACES_EXPORTER": "none"}
            modes["tracing"] = {**modes["on"], "NUANLIU_REQUEST_TELEMETRY": "off"}
            # An operator's choice, not the headline: traces of one request in ten.
            modes["on, 10%"] = {
                **modes["on"],
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
            }
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for _ in range(args.rounds):
            for mode, env in modes.items():
                results[mode].append(_run(mode, env, args, prepared))
    sink.shutdown()
    best = {mode: min(runs, key=lambda r: r["cpu_ms"]) for mode, runs in results.items()}
    for mode, runs in results.items():
        cpus = ", ".join(f"{r['cpu_ms']:.2f}" for r in runs)
        print(f"telemetry {mode:<7}: CPU ms per check-in {cpus} (best {best[mode]['cpu_ms']:.2f}); "
              f"statements per check-in {best[mode]['statements']:.1f}")  # fmt: skip
    print(f"OTLP exports received: {OtlpSink.received}")
    ratio = best["off"]["cpu_ms"] / best["on"]["cpu_ms"]
    print(f"throughput ratio on/off by CPU (off ms / on ms): {ratio:.2f} (target ≥ 0.9)")
    emit("check-in CPU ms in the API, telemetry on (lower is better)", best["on"]["cpu_ms"], "ms",
         "telemetry off", best["off"]["cpu_ms"])  # fmt: skip


if __name__ == "__main__":
    main()
