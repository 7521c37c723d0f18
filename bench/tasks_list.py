"""Officer task lists over HTTP with 100,000 tasks on PostgreSQL: p50/p95 per query shape.

Run: .venv/bin/python -m bench.tasks_list [--tasks 100000] [--requests 200]

100,000 tasks spread over 10 counties x 10 townships are written straight into the tasks
database; the orgs exist in a running registration. Each query shape is requested
sequentially by the officer (or department) it is meant for, through gunicorn. The baseline,
in the same run, is the tasks API's own `/healthz` (a bare JSON answer on the same server).
Target: p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import random
import secrets
import signal
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import requests
from sqlalchemy import create_engine, insert, text

from bench.common import emit
from bench.tasks_claims import ADMIN, PG_ADMIN, Processes, free_port, token, wait_for
from deploy.launcher import read_procfile, venv_env
from services.tasks import domain
from services.tasks.models import Task
from shared.db import drop_database, migrate, new_id, utcnow
from shared.settings import normalise_postgres_url


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(session: requests.Session, url: str, headers: dict[str, str], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per query shape")
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

        dbs = {}
        for service in ("registration", "tasks"):
            app_module = service_module(service, "app")
            dbs[service] = app_module.open_database(type("S", (), {"database_url": url})())
            migrate(dbs[service], app_module.MIGRATIONS)
        ports = {name: free_port() for name in ("registration", "tasks")}
        env = venv_env(
            {
                "REGISTRATION_DATABASE_URL": url,
                "TASKS_DATABASE_URL": url,
                "NUANLIU_WEB_WORKERS": "2",
                "NUANLIU_REGISTRATION_URL": f"http://127.0.0.1:{ports['registration']}",
                "REGISTRATION_PORT": str(ports["registration"]),
                "TASKS_PORT": str(ports["tasks"]),
                "NUANLIU_VAR_DIR": tempfile.mkdtemp(prefix="bench-tasks-list-"),
            }
        )
        processes = Processes(env, Path(env["NUANLIU_VAR_DIR"]))
        commands = read_procfile()
        processes.start("registration-api", commands["registration-api"])
        processes.start("tasks-api", commands["tasks-api"])
        registration = f"http://127.0.0.1:{ports['registration']}"
        tasks = f"http://127.0.0.1:{ports['tasks']}"
        wait_for(registration + "/healthz")
        wait_for(tasks + "/healthz")

        http = requests.Session()

        def org(level: str, parent: str) -> str:
            code = f"L{level[:2].upper()}-{secrets.token_hex(3).upper()}"
            body = {"code": code, "name": code, "level": level, "parent_code": parent}
            http.post(f"{registration}/api/v1/orgs", json=body, headers=ADMIN, timeout=30).raise_for_status()
            return code

        province = org("province", "CN")
        townships: list[tuple[str, str]] = []  # (county, township)
        for _ in range(10):
            county = org("county", province)
            townships += [(county, org("township", county)) for _ in range(10)]

        print(f"writing {args.tasks} tasks ...", flush=True)
        rng = random.Random(7)
        today = date.today()
        now = utcnow()
        statuses = ["open"] * 4 + ["in_progress"] * 3 + ["completed", "evaluated", "draft", "cancelled"]
        rows = []
        for _ in range(args.tasks):
            county, township = rng.choice(townships)
            status = rng.choice(statuses)
            capacity = rng.randint(1, 5)
            rows.append(
                {
                    "id": new_id(),
                    "title": "为独居老人送餐",
                    "description": "每周两次",
                    "category": rng.choice(["elderly_care", "environment", "education", "safety", "health"]),
                    "org_code": township,
                    "org_path": domain.scope_prefix(("CN", province, county, township)),
                    "county_code": county,
                    "capacity": capacity,
                    "claimed": 0 if status in ("open", "draft") else capacity,
                    "points": 10,
                    "due_on": today + timedelta(days=rng.randint(-30, 60)),
                    "status": status,
                    "officer_id": f"officer-{township}",
                    "progress": 0,
                    "created_at": now,
                    "published_at": None if status == "draft" else now,
                }
            )
        tasks_db = dbs["tasks"]
        with tasks_db.transaction() as session:
            for start in range(0, len(rows), 5000):
                session.execute(insert(Task), rows[start : start + 5000])
        with tasks_db.engine.connect() as connection:
            connection.execute(text("ANALYZE tasks"))
            connection.commit()

        county, township = townships[0]
        officer = token("township_officer", township, "bench-officer")
        department = token("org_department", county, "bench-department")
        base = f"{tasks}/api/v1/tasks"
        first_page = http.get(base, headers=officer, timeout=30).json()
        shapes = {
            "officer, default page": (base, officer),
            "officer, status=open": (f"{base}?status=open", officer),
            "officer, overdue=true": (f"{base}?overdue=true", officer),
            "officer, claimable=true&category": (f"{base}?claimable=true&category=health", officer),
            "officer, next page (cursor)": (f"{base}?cursor={first_page['next_cursor']}", officer),
            "officer, limit=200": (f"{base}?limit=200", officer),
            "county department, org=county": (f"{base}?org={county}", department),
            "county department, org=county&overdue": (f"{base}?org={county}&overdue=true", department),
        }
        for url_, headers in shapes.values():  # warm each worker's org cache and connections
            timed(http, url_, headers, 10)
        bare = timed(http, f"{tasks}/healthz", {}, args.requests)
        bare_p95 = percentile(bare, 0.95)
        print(
            f"PostgreSQL, {args.tasks} tasks, {len(townships)} townships; {args.requests} sequential requests each"
        )
        print(
            f"{'baseline: GET /healthz (bare JSON)':42s} p50 {statistics.median(bare):6.1f} ms  p95 {bare_p95:6.1f} ms"
        )
        worst = 0.0
        for name, (url_, headers) in shapes.items():
            samples = timed(http, url_, headers, args.requests)
            p95 = percentile(samples, 0.95)
            worst = max(worst, p95)
            print(
                f"{name:42s} p50 {statistics.median(samples):6.1f} ms  p95 {p95:6.1f} ms"
                f"  ratio to bare p95 {p95 / bare_p95:5.1f}"
            )
            emit(f"GET /tasks p95: {name} (lower is better)", p95, "ms", "GET /healthz p95", bare_p95)
        print(f"worst p95 {worst:.1f} ms (target <= 50 ms): {'met' if worst <= 50 else 'NOT met'}")
        for db in dbs.values():
            db.dispose()
    finally:
        if processes:
            processes.stop()
        drop_database(admin_engine, database)
        admin_engine.dispose()


if __name__ == "__main__":
    main()
