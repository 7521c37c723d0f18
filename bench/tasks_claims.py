"""Claim throughput of the tasks API on PostgreSQL, against baselines in the same run.

Run: .venv/bin/python -m bench.tasks_claims [--claims 5000] [--rounds 10] [--clients 4] [--threads 16]
[--workers 4]

A pool of open tasks (capacity 50 each) is claimed by distinct members, round robin, over
HTTP from several client processes. The same number of claims goes to a minimal claim endpoint
(the same conditional UPDATE and INSERT in one transaction: bench/tasks_baseline_app.py) and
requests to a bare JSON endpoint, all under the same gunicorn configuration, every server
warmed first. The three take turns in rounds. Prints claims/s for each and the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bench.common import emit
from deploy.launcher import read_procfile, venv_env
from shared.auth import issue_token
from shared.db import drop_database, migrate
from shared.settings import DEV_JWT_SECRET, PROJECT_ROOT, normalise_postgres_url

PG_ADMIN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CAPACITY = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def token(role: str, org: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, sub, role, org)}"}


ADMIN = token("admin", "CN", "bench-admin")


class Processes:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives with the process)
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

    def stop(self) -> None:
        for process in self.running:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


def _send_share(job: tuple[list[tuple[str, dict[str, str], dict[str, str]]], int]) -> Counter[int]:
    """One client process: its share of the requests on `threads` threads, keep-alive sessions."""
    from concurrent.futures import ThreadPoolExecutor

    requests_share, threads = job
    import threading

    local = threading.local()

    def send(item: tuple[str, dict[str, str], dict[str, str]]) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        url, headers, body = item
        if body:
            return session.post(url, json=body, headers=headers, timeout=60).status_code
        return session.get(url, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(threads) as pool:
        return Counter(pool.map(send, requests_share))


def run_load(
    pool: multiprocessing.pool.Pool,
    items: list[tuple[str, dict[str, str], dict[str, str]]],
    clients: int,
    threads: int,
) -> tuple[float, Counter[int]]:
    shares = [(items[i::clients], threads) for i in range(clients)]
    started = time.perf_counter()
    counters = pool.map(_send_share, shares)
    elapsed = time.perf_counter() - started
    total: Counter[int] = Counter()
    for counter in counters:
        total.update(counter)
    return len(items) / elapsed, total


def alternate_rounds(
    pool: multiprocessing.pool.Pool,
    loads: dict[str, list[tuple[str, dict[str, str], dict[str, str]]]],
    rounds: int,
    clients: int,
    threads: int,
) -> tuple[dict[str, float], dict[str, Counter[int]], dict[str, list[float]]]:
    """Each load in `rounds` slices, taking turns, each round starting with the next load; a rate
    is all its requests over all its time. Also the rates of each round, to show the spread."""
    elapsed = dict.fromkeys(loads, 0.0)
    statuses: dict[str, Counter[int]] = {name: Counter() for name in loads}
    per_round: dict[str, list[float]] = {name: [] for name in loads}
    names = list(loads)
    for turn in range(rounds):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            items = loads[name]
            share = items[turn * len(items) // rounds : (turn + 1) * len(items) // rounds]
            rate, counted = run_load(pool, share, clients, threads)
            elapsed[name] += len(share) / rate
            statuses[name].update(counted)
            per_round[name].append(rate)
    return {name: len(loads[name]) / elapsed[name] for name in loads}, statuses, per_round


def make_tasks(tasks_url: str, township: str, officer: dict[str, str], count: int) -> list[str]:
    ids = []
    session = requests.Session()
    for i in range(count):
        body = {
            "title": f"bench {i}",
            "description": "bench",
            "org_code": township,
            "category": "bench",
            "capacity": CAPACITY,
            "due_on": (date.today() + timedelta(days=30)).isoformat(),
        }
        created = session.post(f"{tasks_url}/api/v1/tasks", json=body, headers=officer, timeout=30)
        created.raise_for_status()
        task_id = created.json()["id"]
        session.post(
            f"{tasks_url}/api/v1/tasks/{task_id}/publish", headers=officer, timeout=30
        ).raise_for_status()
        ids.append(task_id)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per client process")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per API")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per kind of request")
    args = parser.parse_args()
    # A SIGTERM (e.g. from `timeout`) must still stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    database = f"nuanliu_bench_{secrets.token_hex(4)}"
    admin_engine = create_engine(normalise_postgres_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    url = normalise_postgres_url(PG_ADMIN).rsplit("/", 1)[0] + f"/{database}"
    processes: Processes | None = None
    try:
        from deploy.processes import service_module

        for service in ("registration", "tasks"):
            app_module = service_module(service, "app")
            db = app_module.open_database(type("S", (), {"database_url": url})())
            migrate(db, app_module.MIGRATIONS)
            db.dispose()
        ports = {name: free_port() for name in ("registration", "tasks", "baseline")}
        env = venv_env(
            {
                "REGISTRATION_DATABASE_URL": url,
                "TASKS_DATABASE_URL": url,
                "NUANLIU_WEB_WORKERS": str(args.workers),
                "NUANLIU_WEB_THREADS": "8",
                "NUANLIU_REGISTRATION_URL": f"http://127.0.0.1:{ports['registration']}",
                "REGISTRATION_PORT": str(ports["registration"]),
                "TASKS_PORT": str(ports["tasks"]),
                "NUANLIU_VAR_DIR": tempfile.mkdtemp(prefix="bench-tasks-"),
            }
        )
        processes = Processes(env, Path(env["NUANLIU_VAR_DIR"]))
        commands = read_procfile()
        processes.start("registration-api", commands["registration-api"])
        processes.start("tasks-api", commands["tasks-api"])
        processes.start(
            "baseline",
            f"gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:{ports['baseline']} "
            "'bench.tasks_baseline_app:create_app()'",
        )
        registration = f"http://127.0.0.1:{ports['registration']}"
        tasks = f"http://127.0.0.1:{ports['tasks']}"
        baseline = f"http://127.0.0.1:{ports['baseline']}"
        wait_for(registration + "/healthz")
        wait_for(tasks + "/healthz")
        wait_for(baseline + "/bare")

        parent = "CN"
        codes = {}
        for level in ("province", "county", "township", "branch"):
            code = f"B{level[:2].upper()}-{secrets.token_hex(3).upper()}"
            response = requests.post(
                f"{registration}/api/v1/orgs",
                json={"code": code, "name": code, "level": level, "parent_code": parent},
                headers=ADMIN,
                timeout=30,
            )
            response.raise_for_status()
            codes[level] = parent = code
        officer = token("township_officer", codes["township"], "bench-officer")
        pool_size = -(-args.claims // CAPACITY)
        real_tasks = make_tasks(tasks, codes["township"], officer, pool_size)
        baseline_tasks = make_tasks(tasks, codes["township"], officer, pool_size)
        warm_tasks = make_tasks(tasks, codes["township"], officer, 2)
        warm_minimal_tasks = make_tasks(tasks, codes["township"], officer, 2)

        def real_items(task_ids: list[str], count: int, tag: str) -> list:
            return [
                (
                    f"{tasks}/api/v1/tasks/{task_ids[i % len(task_ids)]}/claims",
                    token("member", codes["branch"], f"{tag}-{i}"),
                    {"commitment": "我来"},
                )
                for i in range(count)
            ]

        real = real_items(real_tasks, args.claims, "m")
        minimal: list[tuple[str, dict[str, str], dict[str, str]]] = [
            (f"{baseline}/claim/{baseline_tasks[i % pool_size]}", {}, {"member_id": f"b-{i}"})
            for i in range(args.claims)
        ]
        bare: list[tuple[str, dict[str, str], dict[str, str]]] = [(f"{baseline}/bare", {}, {}) for _ in range(args.claims)]
        with multiprocessing.get_context("fork").Pool(args.clients) as pool:
            # Warm every worker process (connections, org cache) before measuring.
            run_load(pool, real_items(warm_tasks, 2 * CAPACITY, "warm"), args.clients, args.threads)
            warm_minimal: list[tuple[str, dict[str, str], dict[str, str]]] = [
                (f"{baseline}/claim/{warm_minimal_tasks[i % 2]}", {}, {"member_id": f"w-{i}"})
                for i in range(2 * CAPACITY)
            ]
            run_load(pool, warm_minimal, args.clients, args.threads)
            run_load(pool, bare[:400], args.clients, args.threads)
            # The two claims alternate in rounds, so that a slow spell of this shared machine
            # falls on both; each rate is all its claims over all its rounds' time.
            rates, statuses, per_round = alternate_rounds(
                pool,
                {"real": real, "minimal": minimal, "bare": bare},
                args.rounds,
                args.clients,
                args.threads,
            )
        real_rate, minimal_rate, bare_rate = rates["real"], rates["minimal"], rates["bare"]
        real_statuses, minimal_statuses, bare_statuses = (
            statuses["real"],
            statuses["minimal"],
            statuses["bare"],
        )
        assert real_statuses == {201: args.claims}, real_statuses
        assert minimal_statuses == {201: args.claims}, minimal_statuses
        assert bare_statuses == {200: args.claims}, bare_statuses
        print(
            f"PostgreSQL, gunicorn {args.workers} workers x 8 threads, {args.clients}x{args.threads} clients"
        )
        print(f"{args.claims} claims over {pool_size} open tasks of capacity {CAPACITY}")
        print(f"tasks API claims:          {real_rate:8.0f} /s")
        print(
            f"minimal claim (baseline):  {minimal_rate:8.0f} /s   ratio {real_rate / minimal_rate:.2f} (target >= 0.8)"
        )
        print(f"bare JSON endpoint:        {bare_rate:8.0f} /s   ratio {real_rate / bare_rate:.2f}")
        # Rounds next to each other in time share the machine's moods: their ratios show the spread.
        paired = sorted(
            real / minimal for real, minimal in zip(per_round["real"], per_round["minimal"], strict=True)
        )
        print(
            f"claims / minimal claim per round: min {paired[0]:.2f}, median {statistics.median(paired):.2f},"
            f" max {paired[-1]:.2f} ({len(paired)} rounds)"
        )
        emit("task claims (PostgreSQL)", real_rate, "claims/s", "minimal claim", minimal_rate)
        emit("task claims vs bare JSON (PostgreSQL)", real_rate, "req/s", "bare JSON endpoint", bare_rate)
    finally:
        if processes:
            processes.stop()
        drop_database(admin_engine, database)
        admin_engine.dispose()


if __name__ == "__main__":
    main()
