"""What seeing inside costs: check-ins through the registration API under gunicorn on PostgreSQL
with its telemetry on — per-request metrics in multiprocess mode, the JSON access line, and
OpenTelemetry tracing exported over OTLP/HTTP to a local sink — against the same API in the
same run with all of it off (`NUANLIU_REQUEST_TELEMETRY=off`, `OTEL_TRACES_EXPORTER=none`).
Tracing runs twice: every trace recorded (the SDK's default, `always_on` under a parent) and the
production default of the manifests, parent-based sampling of a share of traces
(`OTEL_TRACES_SAMPLER=parentbased_traceidratio`, `OTEL_TRACES_SAMPLER_ARG`, --ratio).
Rounds alternate, so a noisy machine hurts all alike. Target: on/off ≥ 0.9.

    .venv/bin/python -m bench.observability_overhead [--seconds 8] [--clients 8] [--rounds 3] [--ratio 0.1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import emit
from bench.registration_checkins import prepare
from bench.registration_common import LoadResult, closed_loop, fresh_postgres, gunicorn


class OtlpSink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and drops them: the collector's side is not what is measured."""

    received = 0

    def do_POST(self) -> None:  # noqa: N802 (the http.server interface)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=0.1, help="the sampled share of the production default")
    args = parser.parse_args()

    sink = ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    logs = Path(tempfile.mkdtemp(prefix="nuanliu-bench-otel-"))
    with fresh_postgres() as url:
        branch, tokens = prepare(url)
        common = {"REGISTRATION_DATABASE_URL": url, "NUANLIU_VAR_DIR": str(logs)}
        off = {**common, "NUANLIU_REQUEST_TELEMETRY": "off", "OTEL_TRACES_EXPORTER": "none"}
        on = {
            **common,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}",
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        }
        sampled = {**on, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": str(args.ratio)}
        sampled_name = f"telemetry on, {args.ratio:.0%} sampled"

        def checkin(client: int, sent: int) -> tuple[str, str, bytes, dict[str, str]]:
            member_id, token = tokens[(client * 7919 + sent) % len(tokens)]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = json.dumps({"member_id": member_id, "branch_code": branch, "kind": "self"}).encode()
            return "POST", "/api/v1/checkins", body, headers

        app = "services.registration.app:create_app()"
        totals: dict[str, LoadResult] = {}
        with (
            gunicorn(app, off, "/healthz", logs / "off.log") as off_port,
            gunicorn(app, on, "/healthz", logs / "on.log") as on_port,
            gunicorn(app, sampled, "/healthz", logs / "sampled.log") as sampled_port,
        ):
            plan = [("telemetry off", off_port), ("telemetry on", on_port), (sampled_name, sampled_port)]
            for name, port in plan:
                closed_loop(name, port, checkin, args.clients, 1.0, 201)
            for _ in range(args.rounds):
                for name, port in plan:
                    run = closed_loop(name, port, checkin, args.clients, args.seconds, 201)
                    total = totals.setdefault(name, LoadResult(name))
                    total.requests += run.requests
                    total.errors += run.errors
                    total.seconds += run.seconds
                    total.latencies.extend(run.latencies)
    sink.shutdown()
    access_lines = sum(1 for _ in (logs / "on.log").open()) if (logs / "on.log").exists() else 0
    print(f"{args.clients} closed-loop clients, {args.rounds} rounds of {args.seconds:.0f} s each, PostgreSQL")
    for result in totals.values():
        print(result.line())
    print(f"OTLP exports received: {OtlpSink.received}; log lines written with telemetry on: {access_lines}")
    off_result = totals["telemetry off"]
    for name in ("telemetry on", sampled_name):
        result = totals[name]
        print(f"ratio {name} / off: {result.throughput / off_result.throughput:.2f} (target ≥ 0.9)")
        emit(f"check-in throughput, {name}", result.throughput, "req/s",
             "telemetry off", off_result.throughput)  # fmt: skip
        emit(f"check-in p99, {name} (lower is better)", result.percentile(0.99), "ms",
             "telemetry off p99", off_result.percentile(0.99))  # fmt: skip


if __name__ == "__main__":
    main()
