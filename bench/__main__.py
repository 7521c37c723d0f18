"""`make bench`: run every benchmark in bench/ and print one table, then peak memory.

Each module runs as its own subprocess (`python -m bench.<module>`). Its RESULT lines (see
bench/common.py) give the rows; a module without them is shown with its raw summary lines.
Then a whole stack (embedded default: SQLite) runs a short mixed load (bench/soak.py), and the
peak RSS (VmHWM) of each of its processes is reported against the targets: each API worker
≤ 150 MB, the project's own processes together ≤ 2 GB (broker, database and Temporal excluded).

BENCH_ONLY=a,b runs only those modules; BENCH_TIMEOUT (seconds, default 600) bounds each one;
BENCH_RSS_SECONDS (default 30) is the length of the load behind the memory figures.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from bench.common import PROJECT_ROOT, parse_results, running_stack, stack_peaks

# scale_out is `make scale-test` (a cluster and two stacks: too long for a bench run).
NOT_BENCHMARKS = {"__init__", "__main__", "common", "soak", "scale_out"}
WORKER_LIMIT_MB = 150.0
TOTAL_LIMIT_MB = 2048.0


def modules() -> list[str]:
    only = {m.strip() for m in os.environ.get("BENCH_ONLY", "").split(",") if m.strip()}
    # A benchmark is a module that runs as a program; helpers (e.g. *_common) have no main guard.
    found = sorted(
        path.stem
        for path in (PROJECT_ROOT / "bench").glob("*.py")
        if path.stem not in NOT_BENCHMARKS and '__name__ == "__main__"' in path.read_text()
    )
    return [m for m in found if not only or m in only]


def summary_lines(output: str) -> list[str]:
    """The lines of a module without RESULT lines that carry its figures."""
    keep = re.compile(r"baseline|ratio|/s|\bms\b|p50|p99", re.IGNORECASE)
    return [line.strip() for line in output.splitlines() if keep.search(line) and not line.startswith("{")][
        :8
    ]


def run_module(name: str, timeout: float) -> tuple[int | str, float, str]:
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        status: int | str = completed.returncode
        output = completed.stdout + "\n" + completed.stderr
    except subprocess.TimeoutExpired as error:
        status = "timeout"
        output = (error.stdout or "") if isinstance(error.stdout, str) else ""
    return status, time.monotonic() - started, output


def figure(value: object) -> str:
    if isinstance(value, float | int):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def benchmarks_table() -> bool:
    timeout = float(os.environ.get("BENCH_TIMEOUT", "600"))
    rows: list[tuple[str, str, str, str, str, str]] = []
    raw: dict[str, list[str]] = {}
    healthy = True
    for name in modules():
        print(f"[bench] running bench.{name} ...", flush=True)
        status, seconds, output = run_module(name, timeout)
        results = parse_results(output)
        if status != 0:
            healthy = False
            tail = [line for line in output.strip().splitlines() if not line.startswith("{")][-3:]
            raw[name] = [f"exit {status} after {seconds:.0f}s", *tail]
        for result in results:
            ratio = result.get("ratio")
            rows.append(
                (
                    name,
                    str(result.get("name")),
                    f"{figure(result.get('value'))} {result.get('unit', '')}",
                    str(result.get("baseline_name")),
                    f"{figure(result.get('baseline_value'))} {result.get('unit', '')}",
                    "-" if ratio is None else f"{ratio:.2f}",
                )
            )
        if not results and status == 0:
            raw[name] = summary_lines(output)
    header = ("module", "figure", "value", "baseline", "baseline value", "ratio")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("\n== benchmarks (each figure against its baseline measured in the same run)")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for name, lines in raw.items():
        print(f"-- {name} (no RESULT lines; its own summary):")
        for line in lines:
            print(f"   {line}")
    return healthy


def memory_table() -> bool:
    from bench.soak import Soak

    seconds = float(os.environ.get("BENCH_RSS_SECONDS", "30"))
    print(
        f"\n[bench] peak RSS: whole stack on the embedded default under {seconds:.0f}s of mixed load ...",
        flush=True,
    )
    from deploy.launcher import read_procfile

    # Every process of the Procfile, the console included.
    with running_stack(processes=list(read_procfile())) as stack:
        soak = Soak(stack, seconds, {"checkins": 4.0, "inbox": 4.0, "transfers": 0.3, "claims": 2.0})
        soak.setup()
        soak.run()
        soak.pool.shutdown()
        peaks = stack_peaks(stack.processes)
    print("\n== peak RSS (VmHWM) per process")
    print(f"{'process':22} {'pid':>8} {'role':8} {'peak MB':>9}")
    own_total = 0.0
    ok = True
    for peak in sorted(peaks, key=lambda p: (p.process, p.role, p.pid)):
        counted = peak.process != "temporal"
        flag = ""
        if peak.role == "worker" and peak.process.endswith("-api") and peak.peak_mb > WORKER_LIMIT_MB:
            flag, ok = f"  > {WORKER_LIMIT_MB:.0f} MB target", False
        if counted:
            own_total += peak.peak_mb
        note = "" if counted else "  (not counted: Temporal)"
        print(f"{peak.process:22} {peak.pid:8d} {peak.role:8} {peak.peak_mb:9.1f}{flag}{note}")
    workers = [p.peak_mb for p in peaks if p.role == "worker" and p.process.endswith("-api")]
    print(f"largest API worker: {max(workers, default=0):.1f} MB (target ≤ {WORKER_LIMIT_MB:.0f} MB)")
    print(f"project's own processes together: {own_total:.1f} MB (target ≤ {TOTAL_LIMIT_MB:.0f} MB)")
    if own_total > TOTAL_LIMIT_MB:
        ok = False
    print(f"memory targets: {'MET' if ok else 'NOT MET'}")
    return ok


def main() -> None:
    healthy = benchmarks_table()
    memory_ok = memory_table() if os.environ.get("BENCH_SKIP_RSS") != "1" else True
    sys.exit(0 if healthy and memory_ok else 1)


if __name__ == "__main__":
    main()
