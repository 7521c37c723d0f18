"""Completed transfers per second over HTTP, against a minimal workflow on the same Temporal server.

Run: .venv/bin/python -m bench.transfer_throughput [--transfers 40] [--concurrency 10] [--no-wal-compare]

The baseline workflow has the same shape as a transfer (5 updates: 4 approvals and a report-in;
7 activities: one per approval, then report, move and completion) but no HTTP, no database
and no registration. It runs on the same dev server in the same run. Then the dev server is
restarted without `--sqlite-pragma journal_mode=wal` to show what the pragma is worth.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import emit
from deploy.launcher import read_procfile, venv_env
from services.transfer import search_attributes
from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET, PROJECT_ROOT

APPS = ("registration-api", "transfer-api", "transfer-worker")


@dataclass
class Step:
    name: str


@activity.defn(name="bench_noop")
def bench_noop(step: Step) -> str:
    return step.name


# The minimal workflow: the transfer's updates and activities, nothing else.
@workflow.defn(sandboxed=False)
class MinimalWorkflow:
    def __init__(self) -> None:
        self.pending: list[str] = []
        self.done = 0
        self.finished = False

    @workflow.run
    async def run(self) -> int:
        while not self.finished:
            await workflow.wait_condition(lambda: bool(self.pending))
            name = self.pending.pop(0)
            count = 3 if name == "report" else 1
            for _ in range(count):
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
    def __init__(self, var_dir: Path, wal: bool) -> None:
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
                "NUANLIU_WEB_WORKERS": "4",
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
        import os
        import signal

        for process in self.running:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.running:
            process.wait(timeout=20)


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
        born = date(1960, 1, 1) + timedelta(days=index * 97 + random.randrange(50))
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


def run_transfers(processes: Processes, transfers: int, concurrency: int) -> tuple[float, list[float]]:
    registration = f"http://127.0.0.1:{processes.ports['registration']}"
    transfer = f"http://127.0.0.1:{processes.ports['transfer']}"
    members, sending, receiving = setup_orgs(registration, transfers)
    holders = [
        bearer("branch_secretary", sending["branch"], "s"),
        bearer("township_officer", sending["township"], "t"),
        bearer("org_department", sending["county"], "c"),
        bearer("branch_secretary", receiving["branch"], "r"),
    ]
    latencies: list[float] = []

    def one(member: tuple[str, str]) -> None:
        member_id, branch = member
        me = bearer("member", branch, member_id)
        body = {"member_id": member_id, "to_branch_code": receiving["branch"], "reason": "bench"}
        created = requests.post(f"{transfer}/api/v1/transfers", json=body, headers=me, timeout=30)
        created.raise_for_status()
        url = f"{transfer}/api/v1/transfers/{created.json()['id']}"
        for headers in holders:
            started = time.perf_counter()
            requests.post(
                f"{url}/decisions", json={"decision": "approve"}, headers=headers, timeout=30
            ).raise_for_status()
            latencies.append(time.perf_counter() - started)
        reported = requests.post(f"{url}/report", json={}, headers=me, timeout=60)
        reported.raise_for_status()
        assert reported.json()["status"] == "completed", reported.text

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, members))
    return transfers / (time.perf_counter() - started), latencies


async def run_baseline(address: str, transfers: int, concurrency: int) -> float:
    client = await Client.connect(address)
    queue = f"bench-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[MinimalWorkflow],
            activities=[bench_noop],
            activity_executor=executor,
        ):
            limit = asyncio.Semaphore(concurrency)

            async def one(index: int) -> None:
                async with limit:
                    handle = await client.start_workflow(
                        MinimalWorkflow.run, id=f"bench-{queue}-{index}", task_queue=queue
                    )
                    for name in ("a1", "a2", "a3", "a4", "report"):
                        await handle.execute_update(MinimalWorkflow.act, name)
                    await handle.result()

            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(transfers)))
            return transfers / (time.perf_counter() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(wal: bool, transfers: int, concurrency: int) -> tuple[float, float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="nuanliu-bench-") as var_dir:
        processes = Processes(Path(var_dir), wal)
        try:
            processes.start()
            transfer_rate, latencies = run_transfers(processes, transfers, concurrency)
            baseline_rate = asyncio.run(
                run_baseline(processes.env["TEMPORAL_ADDRESS"], transfers, concurrency)
            )
        finally:
            processes.stop()
    return transfer_rate, baseline_rate, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--no-wal-compare", action="store_true")
    args = parser.parse_args()
    _ = search_attributes  # the Procfile's temporal line registers them
    for wal in (True,) if args.no_wal_compare else (True, False):
        rate, baseline, latencies = measure(wal, args.transfers, args.concurrency)
        label = "journal_mode=wal" if wal else "no wal pragma"
        print(f"[{label}] {args.transfers} transfers, {args.concurrency} in flight")
        print(f"  transfers completed over HTTP: {rate:.2f}/s")
        print(f"  minimal workflow baseline:     {baseline:.2f}/s (same updates and activities, same server)")
        print(f"  ratio: {rate / baseline:.2f} (target >= 0.7)")
        emit(f"transfers completed over HTTP ({label})", rate, "transfers/s", "minimal workflow", baseline)
        print(
            f"  decision latency over HTTP: p50 {statistics.median(latencies) * 1000:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms (n={len(latencies)})"
        )


if __name__ == "__main__":
    main()
