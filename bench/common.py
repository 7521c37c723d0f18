"""What the benchmarks share: the RESULT line convention, a stack runner, and peak RSS.

The RESULT convention
---------------------
Every benchmark prints its own human-readable lines, and ALSO one machine-readable line per
figure, made by `emit(...)`:

    RESULT {"name": "...", "value": 123.4, "unit": "events/s",
            "baseline_name": "...", "baseline_value": 456.7, "ratio": 0.27}

`python -m bench` (`make bench`) runs every module in bench/ as a subprocess, collects these
lines and prints one table. `ratio` is value / baseline_value (for a latency, lower is better:
say so in the name). A module that prints no RESULT line is shown with its raw summary lines.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.db import drop_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "RESULT "
SERVICES = ("registration", "transfer", "tasks", "notify")


def emit(name: str, value: float, unit: str, baseline_name: str, baseline_value: float) -> None:
    """Print one figure with its same-run baseline in the RESULT convention (see the module doc)."""
    ratio = value / baseline_value if baseline_value else None
    line = {
        "name": name,
        "value": round(float(value), 4),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": round(float(baseline_value), 4),
        "ratio": None if ratio is None else round(ratio, 4),
    }
    print(RESULT_PREFIX + json.dumps(line, ensure_ascii=False), flush=True)


def parse_results(output: str) -> list[dict[str, Any]]:
    results = []
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                results.append(json.loads(line[len(RESULT_PREFIX) :]))
            except json.JSONDecodeError:
                continue
    return results


# --- peak memory --------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the peak resident set of a live process, in MB."""
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else kb / 1024


def descendants(pid: int) -> list[int]:
    """pid and every process below it (children of children too)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


@dataclass
class ProcessPeak:
    process: str  # the Procfile name
    pid: int
    role: str  # "master", "worker" or "main"
    peak_mb: float


def stack_peaks(processes: dict[str, subprocess.Popen[bytes]]) -> list[ProcessPeak]:
    """Peak RSS of every process of a running stack, gunicorn masters and workers apart."""
    peaks = []
    for name, popen in processes.items():
        tree = descendants(popen.pid)
        for pid in tree:
            mb = peak_rss_mb(pid)
            if mb is None:
                continue
            role = ("master" if pid == popen.pid else "worker") if "gunicorn" in process_name(pid) else "main"
            peaks.append(ProcessPeak(name, pid, role, mb))
    return peaks


# --- a stack to measure -------------------------------------------------------------------------


def amqp_url() -> str:
    return os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@contextmanager
def running_stack(
    processes: list[str] | None = None,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Any]:
    """Every Procfile process (or some) on free ports with a private var dir and broker prefix.

    The embedded default is SQLite under the private var dir; `database_url` (PostgreSQL) puts
    each service in its own schema of a fresh database instead. Temporal gets its own dev server.
    """
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.infra import delete_topology
    from tests.support.stack import Stack, free_port

    var_dir = Path(tempfile.mkdtemp(prefix="nuanliu-bench-"))
    prefix = f"bench-{secrets.token_hex(4)}."
    temporal_port = free_port()
    env = {
        "AMQP_URL": amqp_url(),
        "NUANLIU_BROKER_PREFIX": prefix,
        "NUANLIU_VAR_DIR": str(var_dir),
        "NUANLIU_RELAY_POLL_INTERVAL": "0.05",
        "TEMPORAL_PORT": str(temporal_port),
        "TEMPORAL_UI_PORT": str(free_port()),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "NUANLIU_TASK_QUEUE": f"bench-{temporal_port}",
        **(extra_env or {}),
    }
    pg_database = None
    if database_url:
        from sqlalchemy import create_engine, text

        from shared.settings import normalise_postgres_url

        admin_url = normalise_postgres_url(database_url)
        pg_database = f"nuanliu_bench_{secrets.token_hex(4)}"
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{pg_database}"'))
        engine.dispose()
        env["DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + f"/{pg_database}"
    migrate_env = {**os.environ, **env}
    subprocess.run(
        [str(Path(sys.executable).parent / "nuanliu"), "migrate"],
        cwd=PROJECT_ROOT,
        env=migrate_env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log_dir = var_dir / "logs"
    log_dir.mkdir()
    stack = Stack(log_dir, env)
    names = processes or [n for n in stack.commands if n != "console-web"]
    stack.start(*names)
    try:
        services = [s for s in SERVICES if f"{s}-api" in names]
        stack.wait_ready(*services, timeout=120)
        yield stack
    finally:
        stack.stop()
        try:
            delete_topology(prefix, ["notify", "transfer", "tasks", "registration"])
        except Exception as error:  # the measurement stands; leftover queues are only untidy
            print(f"note: could not remove broker queues of {prefix}: {error}", file=sys.stderr)
        if pg_database and database_url:
            from sqlalchemy import create_engine, text

            from shared.settings import normalise_postgres_url

            engine = create_engine(normalise_postgres_url(database_url), isolation_level="AUTOCOMMIT")
            drop_database(engine, pg_database)
            engine.dispose()


def wait(seconds: float) -> None:
    time.sleep(seconds)
