"""Completed transfers per second over HTTP, against a minimal workflow on the same Temporal server.

Run: .venv/bin/python -m bench.transfer_throughput [--transfers 40] [--rounds 4] [--concurrency 10]
[--web-workers 2] [--no-wal-compare]

The baseline workflow has the same shape as a transfer (5 updates: 4 approvals and a report-in;
7 activities: one per approval, then report, move and completion) but no HTTP, no database
and no registration. It runs on the same dev server in the same run. A second baseline runs
the same workflow with its six bookkeeping activities as local activities, as TransferWorkflow
runs its projection steps, and is reported beside it. Then the dev server is restarted without
`--sqlite-pragma journal_mode=wal` to show what the pragma is worth.

Like for like: both workflows run in the default sandbox (which re-imports the workflow's module
for every run), both modules are imported from bytecode (as `make` and the image provide; this
run compiles them first), both sides get an untimed warm-up (gunicorn workers still booting,
first client connections), and the three take turns in rounds, each round starting with the
next one, so that none always runs on the fresher server or the quieter minute. Each round's CPU, read from
/proc, is charged per transfer to the processes that did the work, to show where the gap lies.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import py_compile
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

# Passed through: the sandbox re-runs this module for every baseline workflow, as it re-runs
# services/transfer/workflows.py for every transfer, but not these libraries.
with workflow.unsafe.imports_passed_through():
    import requests
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.common import emit
    from deploy.launcher import read_procfile, venv_env
    from services.transfer import search_attributes
    from services.transfer import workflows as transfer_workflows
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET, PROJECT_ROOT

APPS = ("registration-api", "transfer-api", "transfer-worker")


@dataclass
class Step:
    name: str


@activity.defn(name="bench_noop")
def bench_noop(step: Step) -> str:
    return step.name


# The minimal workflow: the transfer's updates and activities, nothing else. Sandboxed like
# TransferWorkflow, so the baseline pays the same per-run module import and activation wrapping.
@workflow.defn
class MinimalWorkflow:
    def __init__(self) -> None:
        self.pending: list[str] = []
        self.done = 0
        self.finished = False

    @workflow.run
    async def run(self, local_steps: bool = False) -> int:
        """`local_steps`: the bookkeeping activities (all but the report's middle one, the move)
        run as local activities, as TransferWorkflow's projection steps do."""
        while not self.finished:
            await workflow.wait_condition(lambda: bool(self.pending))
            name = self.pending.pop(0)
            steps = ["step", "move", "step"] if name == "report" else ["step"]
            for step in steps:
                if local_steps and step == "step":
                    await workflow.execute_local_activity(
                        bench_noop, Step(name), start_to_close_timeout=timedelta(seconds=10)
                    )
                else:
                    await workflow.execute_activity(
                        bench_noop, Step(name), start_to_close_timeout=timedelta(seconds=10)
                    )
            self.done += 1
            self.finished = name == "report"
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.done

    @workflow.update
    async def act(self, name: str) -> int:
        self.pending.append(name)
        target = self.done + len(self.pending)
        await workflow.wait_condition(lambda: self.done >= target)
        return self.done


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bearer(role: str, org: str, sub: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, sub, role, org)}


class Processes:
    def __init__(self, var_dir: Path, wal: bool, web_workers: int = 2) -> None:
        self.ports = {name: free_port() for name in ("temporal", "registration", "transfer", "ui")}
        self.env = venv_env(
            {
                "NUANLIU_VAR_DIR": str(var_dir),
                "TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports['temporal']}",
                "TEMPORAL_PORT": str(self.ports["temporal"]),
                "TEMPORAL_UI_PORT": str(self.ports["ui"]),
                "REGISTRATION_PORT": str(self.ports["registration"]),
                "TRANSFER_PORT": str(self.ports["transfer"]),
                "NUANLIU_REGISTRATION_URL": f"http://127.0.0.1:{self.ports['registration']}",
                "NUANLIU_BROKER_PREFIX": f"bench-{uuid.uuid4().hex[:6]}.",
                "NUANLIU_WEB_WORKERS": str(web_workers),
            }
        )
        commands = read_procfile()
        temporal = commands["temporal"]
        if not wal:
            temporal = temporal.replace("--sqlite-pragma journal_mode=wal", "")
        self.commands = {"temporal": temporal, **{name: commands[name] for name in APPS}}
        self.var_dir = var_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        subprocess.run(
            [".venv/bin/nuanliu", "migrate"], cwd=PROJECT_ROOT, env=self.env, check=True, capture_output=True
        )
        for name, command in self.commands.items():
            log = open(self.var_dir / f"{name}.log", "ab")  # noqa: SIM115
            self.running.append(
                subprocess.Popen(
                    ["/bin/sh", "-c", f"exec {command}"],
                    cwd=PROJECT_ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        for service in ("registration", "transfer"):
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{self.ports[service]}/readyz", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service} did not become ready")
                time.sleep(0.3)

    def stop(self) -> None:
        for process in self.running:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.running:
            process.wait(timeout=20)


class CpuMeter:
    """CPU seconds used so far by each stack process (with its children) and by this process,
    read from /proc: a round's transfers are charged to the processes that did their work."""

    def __init__(self, processes: Processes) -> None:
        started = zip(processes.commands, processes.running, strict=True)
        self.roots = {name: process.pid for name, process in started}
        self.tick = os.sysconf("SC_CLK_TCK")

    def read(self) -> dict[str, float]:
        parents: dict[int, int] = {}
        used: dict[int, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            pid = int(stat.parent.name)
            parents[pid] = int(fields[1])
            used[pid] = (int(fields[11]) + int(fields[12])) / self.tick

        def tree(pid: int) -> float:
            return used.get(pid, 0.0) + sum(tree(child) for child, parent in parents.items() if parent == pid)

        reading = {name: tree(pid) for name, pid in self.roots.items()}
        own = os.times()
        reading["bench process"] = own.user + own.system
        return reading


def setup_orgs(registration: str, count: int) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str]]:
    admin = bearer("admin", "CN", "admin")
    sides: list[dict[str, str]] = []
    for province in ("HB", "ZJ"):
        parent, codes = "CN", {}
        for level in ("province", "county", "township", "branch"):
            code = f"{province}-{level[:2].upper()}-{uuid.uuid4().hex[:6].upper()}"
            body = {"code": code, "name": code, "level": level, "parent_code": parent}
            requests.post(
                f"{registration}/api/v1/orgs", json=body, headers=admin, timeout=10
            ).raise_for_status()
            codes[level] = parent = code
        sides.append(codes)
    import random
    from datetime import date

    from services.registration.domain import id_check_digit

    members: list[tuple[str, str]] = []
    for index in range(count):
        # Born 1955-1995, so every member was of age when joining in 2020, however many are made.
        born = date(1955, 1, 1) + timedelta(days=(index * 97) % (40 * 365) + random.randrange(50))
        first17 = f"420500{born:%Y%m%d}{random.randrange(1000):03d}"
        body = {
            "name": f"成员{index}",
            "gender": "female",
            "birth_date": born.isoformat(),
            "id_number": first17 + id_check_digit(first17),
            "phone": f"139{random.randrange(10**8):08d}",
            "status": "full",
            "branch_code": sides[0]["branch"],
            "joined_on": "2020-07-01",
            "dues_paid_through": "2026-11",
        }
        response = requests.post(f"{registration}/api/v1/members", json=body, headers=admin, timeout=10)
        response.raise_for_status()
        members.append((response.json()["id"], sides[0]["branch"]))
    return members, sides[0], sides[1]


class RealPath:
    """Transfers over HTTP against the stack: orgs and members made up front, used in batches."""

    def __init__(self, processes: Processes, members: int, concurrency: int) -> None:
        registration = f"http://127.0.0.1:{processes.ports['registration']}"
        self.transfer = f"http://127.0.0.1:{processes.ports['transfer']}"
        self.members, sending, self.receiving = setup_orgs(registration, members)
        self.holders = [
            bearer("branch_secretary", sending["branch"], "s"),
            bearer("township_officer", sending["township"], "t"),
            bearer("org_department", sending["county"], "c"),
            bearer("branch_secretary", self.receiving["branch"], "r"),
        ]
        self.concurrency = concurrency
        self.latencies: list[float] = []
        self._local = threading.local()

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        """POST on this thread's keep-alive session, as a browser or the console holds one; like
        them, once more on a new connection if the server closed the kept one as it was reused."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        try:
            return session.post(url, **kwargs)
        except requests.ConnectionError:
            return session.post(url, **kwargs)

    def one(self, member: tuple[str, str], latencies: list[float]) -> None:
        member_id, branch = member
        me = bearer("member", branch, member_id)
        body = {"member_id": member_id, "to_branch_code": self.receiving["branch"], "reason": "bench"}
        created = self.post(f"{self.transfer}/api/v1/transfers", json=body, headers=me, timeout=30)
        created.raise_for_status()
        url = f"{self.transfer}/api/v1/transfers/{created.json()['id']}"
        for headers in self.holders:
            started = time.perf_counter()
            self.post(
                f"{url}/decisions", json={"decision": "approve"}, headers=headers, timeout=30
            ).raise_for_status()
            latencies.append(time.perf_counter() - started)
        reported = self.post(f"{url}/report", json={}, headers=me, timeout=60)
        reported.raise_for_status()
        assert reported.json()["status"] == "completed", reported.text

    def run(self, count: int, timed: bool = True) -> tuple[int, float]:
        """Run `count` transfers `concurrency` at a time; (count, seconds)."""
        batch, self.members = self.members[:count], self.members[count:]
        latencies: list[float] = []
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(lambda member: self.one(member, latencies), batch))
        if timed:
            self.latencies += latencies
        return count, time.perf_counter() - started


class Baseline:
    """The minimal workflow on its own worker and task queue, on the same dev server."""

    def __init__(self, client: Client, queue: str, concurrency: int, local_steps: bool = False) -> None:
        self.client = client
        self.queue = queue
        self.concurrency = concurrency
        self.local_steps = local_steps
        self.started = 0

    async def run(self, count: int) -> tuple[int, float]:
        """Run `count` minimal workflows (their worker must be running); (count, seconds)."""
        limit = asyncio.Semaphore(self.concurrency)
        first, self.started = self.started, self.started + count

        async def one(index: int) -> None:
            async with limit:
                handle = await self.client.start_workflow(
                    MinimalWorkflow.run,
                    self.local_steps,
                    id=f"bench-{self.queue}-{int(self.local_steps)}-{index}",
                    task_queue=self.queue,
                )
                for name in ("a1", "a2", "a3", "a4", "report"):
                    await handle.execute_update(MinimalWorkflow.act, name)
                await handle.result()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        return count, time.perf_counter() - started


@dataclass
class Comparison:
    rates: dict[str, float]  # transfers per second by side
    latencies: list[float]  # the real path's decisions, in seconds
    cpu: dict[str, dict[str, float]]  # CPU milliseconds per transfer, by side and process


async def compare(
    processes: Processes, transfers: int, concurrency: int, rounds: int, warmup: int
) -> Comparison:
    """Take turns in rounds: the real path, the minimal workflow, and the minimal workflow with
    local bookkeeping steps (rotating who goes first). The real path's HTTP calls run on threads,
    so the baselines' worker (on this loop) sits idle while they do."""
    meter = CpuMeter(processes)
    real = await asyncio.to_thread(RealPath, processes, warmup + transfers * rounds, concurrency)
    client = await Client.connect(processes.env["TEMPORAL_ADDRESS"])
    queue = f"bench-{uuid.uuid4()}"
    sides = {
        "real": real,
        "baseline": Baseline(client, queue, concurrency),
        "baseline_local": Baseline(client, queue, concurrency, local_steps=True),
    }
    totals = {side: [0, 0.0] for side in sides}
    cpu: dict[str, dict[str, float]] = {side: {} for side in sides}

    async def run(side: str, count: int, timed: bool = True) -> tuple[int, float]:
        if side == "real":
            return await asyncio.to_thread(real.run, count, timed)
        baseline: Any = sides[side]
        result: tuple[int, float] = await baseline.run(count)
        return result

    with ThreadPoolExecutor(max_workers=16) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[MinimalWorkflow],
            activities=[bench_noop],
            activity_executor=executor,
        ):
            for side in sides:
                if warmup:
                    await run(side, warmup, timed=False)
            names = list(sides)
            for index in range(rounds):
                for side in names[index % 3 :] + names[: index % 3]:
                    before = meter.read()
                    count, seconds = await run(side, transfers)
                    after = meter.read()
                    totals[side][0] += count
                    totals[side][1] += seconds
                    for name, used in after.items():
                        cpu[side][name] = cpu[side].get(name, 0.0) + used - before[name]
    return Comparison(
        rates={side: count / seconds for side, (count, seconds) in totals.items()},
        latencies=real.latencies,
        cpu={
            side: {name: used * 1000 / totals[side][0] for name, used in by_process.items()}
            for side, by_process in cpu.items()
        },
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(
    wal: bool, transfers: int, concurrency: int, rounds: int, warmup: int, web_workers: int
) -> Comparison:
    with tempfile.TemporaryDirectory(prefix="nuanliu-bench-") as var_dir:
        processes = Processes(Path(var_dir), wal, web_workers)
        try:
            processes.start()
            return asyncio.run(compare(processes, transfers, concurrency, rounds, warmup))
        except requests.HTTPError as error:
            # Say what the stack answered and logged before the scratch directory goes.
            print(f"  {error.response.status_code} from {error.response.url}: {error.response.text[:300]}")
            for name in APPS:
                lines = (Path(var_dir) / f"{name}.log").read_text(errors="replace").splitlines()
                print(f"  --- last lines of {name}.log", *lines[-15:], sep="\n  ")
            raise
        finally:
            processes.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=40, help="per round and side")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4, help="alternating real/baseline rounds")
    parser.add_argument(
        "--web-workers", type=int, default=2, help="gunicorn workers per API (2: what `make run` runs)"
    )
    parser.add_argument("--warmup", type=int, default=8, help="untimed transfers per side first")
    parser.add_argument("--no-wal-compare", action="store_true")
    args = parser.parse_args()
    _ = search_attributes  # the Procfile's temporal line registers them
    for module in (transfer_workflows, sys.modules[MinimalWorkflow.__module__]):
        source = str(module.__file__)
        py_compile.compile(source, cfile=importlib.util.cache_from_source(source))
    for wal in (True,) if args.no_wal_compare else (True, False):
        comparison = measure(
            wal, args.transfers, args.concurrency, args.rounds, args.warmup, args.web_workers
        )
        rates, latencies = comparison.rates, comparison.latencies
        rate, baseline, baseline_local = rates["real"], rates["baseline"], rates["baseline_local"]
        label = "journal_mode=wal" if wal else "no wal pragma"
        print(
            f"[{label}] {args.transfers} transfers x {args.rounds} rounds per side,"
            f" {args.concurrency} in flight, {args.web_workers} gunicorn workers per API"
        )
        print(f"  transfers completed over HTTP: {rate:.2f}/s")
        print(f"  minimal workflow baseline:     {baseline:.2f}/s (same updates and activities, same server)")
        print(f"  ratio: {rate / baseline:.2f} (target >= 0.7)")
        print(f"  minimal workflow, local steps: {baseline_local:.2f}/s   ratio {rate / baseline_local:.2f}")
        emit(f"transfers completed over HTTP ({label})", rate, "transfers/s", "minimal workflow", baseline)
        emit(
            f"transfers completed over HTTP vs local-step baseline ({label})",
            rate,
            "transfers/s",
            "minimal workflow with local steps",
            baseline_local,
        )
        print(
            f"  decision latency over HTTP: p50 {statistics.median(latencies) * 1000:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms (n={len(latencies)})"
        )
        print("  CPU per transfer by process (ms; the bench process is the HTTP client for the real")
        print("  path, and the minimal workflow's worker and client for the baselines; under 0.5 left out):")
        for side, by_process in comparison.cpu.items():
            shown = " · ".join(f"{name} {used:.1f}" for name, used in by_process.items() if used >= 0.5)
            print(f"    {side:<15} {shown} · total {sum(by_process.values()):.1f}")


if __name__ == "__main__":
    main()
