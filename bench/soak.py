"""`make soak`: a mixed workload at fixed rates (an open model) on a whole stack, then a
reconciliation of what the system owes.

Streams, each at its own fixed rate whatever the latency (requests that fall behind queue up,
and their latency counts from the moment they were due):
  check-ins         POST /api/v1/checkins (a member checks in)
  inbox reads       GET  /api/v1/notifications (a branch secretary)
  transfers         POST /api/v1/transfers, then every decision up to the report-in
  claims            POST /api/v1/tasks/{id}/claims (new tasks are opened as they fill)

Report: per endpoint the count, error rate, p50 and p99; then the reconciliation:
events in the outboxes = notifications expected (notify's routing of those events) =
notifications stored, and transfers started = transfers in a terminal state.

SOAK_SECONDS (default 600) sets the duration; SOAK_DATABASES=sqlite,postgres which databases
(PostgreSQL at SOAK_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import running_stack  # noqa: E402
from shared.auth import issue_token  # noqa: E402
from shared.settings import DEV_JWT_SECRET  # noqa: E402

TERMINAL = {"completed", "rejected", "cancelled", "expired", "failed"}
RATES = {"checkins": 4.0, "inbox": 4.0, "transfers": 0.3, "claims": 2.0}


def bearer(role: str, org: str, sub: str | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, sub or f"{role}-{org}", role, org)}


ADMIN = bearer("admin", "CN", "admin")


def check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


_serial = itertools.count(1)


def member_body(branch: str) -> dict[str, Any]:
    born = date(1960, 1, 1) + timedelta(days=random.randrange(12_500))
    first17 = f"350304{born:%Y%m%d}{random.randrange(1000):03d}"
    return {
        "name": f"党员{next(_serial)}",
        "gender": random.choice(["male", "female"]),
        "birth_date": born.isoformat(),
        "id_number": first17 + check_digit(first17),
        "phone": f"13{random.randrange(10**9):09d}",
        "status": "full",
        "branch_code": branch,
        "joined_on": "2015-07-01",
        "dues_paid_through": "2026-10",
    }


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, due: float, response: requests.Response | None, error: str = "") -> None:
        elapsed = time.monotonic() - due
        ok = response is not None and 200 <= response.status_code < 300
        with self.lock:
            self.latencies[endpoint].append(elapsed)
            if not ok:
                self.errors[endpoint] += 1
                self.samples.setdefault(
                    endpoint,
                    error or f"{response.status_code} {response.text[:200]}"
                    if response is not None
                    else error,
                )


class Soak:
    def __init__(self, stack: Any, seconds: float, rates: dict[str, float]) -> None:
        self.stack = stack
        self.seconds = seconds
        self.rates = rates
        self.url = {s: stack.url(s) for s in ("registration", "transfer", "tasks", "notify")}
        self.stats = Stats()
        self.pool = ThreadPoolExecutor(max_workers=64)
        self.session = threading.local()
        self.transfers: list[str] = []
        self.transfer_lock = threading.Lock()
        self.claim_lock = threading.Lock()

    def http(self) -> requests.Session:
        if not hasattr(self.session, "s"):
            self.session.s = requests.Session()
        return self.session.s

    def call(
        self, endpoint: str, due: float, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> requests.Response | None:
        try:
            response = self.http().request(method, url, json=body, headers=headers, timeout=60)
        except requests.RequestException as error:
            self.stats.record(endpoint, due, None, type(error).__name__)
            return None
        self.stats.record(endpoint, due, response)
        return response

    # --- set-up ---------------------------------------------------------------------------------

    def setup(self) -> None:
        reg = self.url["registration"]
        codes: dict[str, str] = {}
        parent = "CN"
        suffix = f"{random.randrange(16**6):06X}"
        for level in ("province", "county", "township"):
            code = f"SK{level[:2].upper()}-{suffix}"
            self._ok(
                requests.post(
                    f"{reg}/api/v1/orgs",
                    json={"code": code, "name": code, "level": level, "parent_code": parent},
                    headers=ADMIN,
                    timeout=30,
                )
            )
            codes[level] = parent = code
        for side in ("A", "B"):
            code = f"SKBR{side}-{suffix}"
            self._ok(
                requests.post(
                    f"{reg}/api/v1/orgs",
                    json={"code": code, "name": code, "level": "branch", "parent_code": codes["township"]},
                    headers=ADMIN,
                    timeout=30,
                )
            )
            codes[side] = code
        self.codes = codes
        transfers_needed = int(self.rates["transfers"] * self.seconds) + 5
        with ThreadPoolExecutor(8) as pool:
            self.members = list(pool.map(lambda _: self._member(codes["A"]), range(60)))
            self.movers = list(pool.map(lambda _: self._member(codes["A"]), range(transfers_needed)))
        self.mover_index = itertools.count()
        self.claims_made = itertools.count()
        self.task: str | None = None
        self.task_claims = 0
        self.task_serial = itertools.count()

    def _ok(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code >= 300:
            raise RuntimeError(f"set-up failed: {response.status_code} {response.text[:300]}")
        return response.json()

    def _member(self, branch: str) -> str:
        return self._ok(
            requests.post(
                f"{self.url['registration']}/api/v1/members",
                json=member_body(branch),
                headers=ADMIN,
                timeout=30,
            )
        )["id"]

    def _new_task(self) -> str:
        officer = bearer("township_officer", self.codes["township"])
        body = {
            "title": f"实事 {next(self.task_serial)}",
            "description": "soak",
            "org_code": self.codes["township"],
            "category": "service",
            "capacity": 50,
            "due_on": (date.today() + timedelta(days=30)).isoformat(),
        }
        task = self._ok(
            requests.post(f"{self.url['tasks']}/api/v1/tasks", json=body, headers=officer, timeout=30)
        )["id"]
        self._ok(
            requests.post(f"{self.url['tasks']}/api/v1/tasks/{task}/publish", headers=officer, timeout=30)
        )
        return task

    # --- the streams ----------------------------------------------------------------------------

    def checkin(self, due: float) -> None:
        member = random.choice(self.members)
        self.call(
            "POST /checkins",
            due,
            "POST",
            f"{self.url['registration']}/api/v1/checkins",
            bearer("member", self.codes["A"], member),
            {"member_id": member, "branch_code": self.codes["A"], "kind": "self"},
        )

    def inbox(self, due: float) -> None:
        self.call(
            "GET /notifications",
            due,
            "GET",
            f"{self.url['notify']}/api/v1/notifications?unread=true",
            bearer("branch_secretary", self.codes["A"]),
        )

    def claim(self, due: float) -> None:
        with self.claim_lock:
            if self.task is None or self.task_claims >= 50:
                self.task, self.task_claims, self.task_offset = self._new_task(), 0, random.randrange(60)
            task, index = self.task, (self.task_offset + self.task_claims) % 60
            self.task_claims += 1
        member = self.members[index]
        self.call(
            "POST /tasks/{id}/claims",
            due,
            "POST",
            f"{self.url['tasks']}/api/v1/tasks/{task}/claims",
            bearer("member", self.codes["A"], member),
            {"commitment": "保证完成"},
        )

    def transfer(self, due: float) -> None:
        member = self.movers[next(self.mover_index)]
        base = f"{self.url['transfer']}/api/v1/transfers"
        created = self.call(
            "POST /transfers",
            due,
            "POST",
            base,
            bearer("member", self.codes["A"], member),
            {"member_id": member, "to_branch_code": self.codes["B"], "reason": "工作调动"},
        )
        if created is None or created.status_code != 201:
            return
        transfer = created.json()["id"]
        with self.transfer_lock:
            self.transfers.append(transfer)
        for holder in (
            bearer("branch_secretary", self.codes["A"]),
            bearer("township_officer", self.codes["township"]),
            bearer("branch_secretary", self.codes["B"]),
        ):
            step = self.call(
                "POST /transfers/{id}/decisions",
                time.monotonic(),
                "POST",
                f"{base}/{transfer}/decisions",
                holder,
                {"decision": "approve"},
            )
            if step is None or step.status_code != 200:
                return
        self.call(
            "POST /transfers/{id}/report",
            time.monotonic(),
            "POST",
            f"{base}/{transfer}/report",
            bearer("member", self.codes["B"], member),
            {},
        )

    # --- the open model ---------------------------------------------------------------------------

    def run(self) -> float:
        streams = {
            "checkins": self.checkin,
            "inbox": self.inbox,
            "transfers": self.transfer,
            "claims": self.claim,
        }
        started = time.monotonic()
        end = started + self.seconds
        futures = []

        def schedule(name: str) -> None:
            rate = self.rates[name]
            if rate <= 0:
                return
            for i in itertools.count():
                due = started + i / rate
                if due >= end:
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(self.pool.submit(streams[name], due))

        threads = [threading.Thread(target=schedule, args=(name,)) for name in streams]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for future in list(futures):
            future.result()
        return time.monotonic() - started


# --- reconciliation -------------------------------------------------------------------------------


def reconcile(stack: Any, soak: Soak, since: Any, timeout: float = 120) -> dict[str, Any]:
    from sqlalchemy import func, select

    from deploy.processes import service_module, settings_of
    from services.notify import domain as notify_domain
    from services.notify.models import Notification
    from shared.events import parse_envelope

    databases = {
        s: service_module(s, "app").open_database(settings_of(s, stack.env))
        for s in ("registration", "transfer", "tasks", "notify")
    }

    def outbox_state() -> tuple[list[tuple[str, str]], int]:
        events, unsent = [], 0
        for service in ("registration", "transfer", "tasks"):
            table = service_module(service, "models").outbox.table
            with databases[service].reader() as session:
                for event_id, body, sent in session.execute(
                    select(table.c.event_id, table.c.body, table.c.sent_at).where(table.c.created_at >= since)
                ):
                    events.append((event_id, body))
                    unsent += sent is None
        return events, unsent

    def stored(ids: list[str]) -> int:
        total = 0
        with databases["notify"].reader() as session:
            for start in range(0, len(ids), 500):
                total += (
                    session.scalar(
                        select(func.count())
                        .select_from(Notification)
                        .where(Notification.event_id.in_(ids[start : start + 500]))
                    )
                    or 0
                )
        return total

    deadline = time.monotonic() + timeout
    while True:
        events, unsent = outbox_state()
        expected = sum(len(notify_domain.messages_for(parse_envelope(body.encode()))) for _, body in events)
        have = stored([e for e, _ in events])
        statuses: dict[str, int] = defaultdict(int)
        for transfer in soak.transfers:
            response = requests.get(
                f"{soak.url['transfer']}/api/v1/transfers/{transfer}", headers=ADMIN, timeout=30
            )
            statuses[
                response.json().get("status", "?")
                if response.status_code == 200
                else str(response.status_code)
            ] += 1
        terminal = sum(n for s, n in statuses.items() if s in TERMINAL)
        settled = unsent == 0 and have == expected and terminal == len(soak.transfers)
        if settled or time.monotonic() > deadline:
            break
        time.sleep(2)
    for database in databases.values():
        database.dispose()
    return {
        "events_in_outbox": len(events),
        "events_unsent": unsent,
        "notifications_expected": expected,
        "notifications_stored": have,
        "transfers_started": len(soak.transfers),
        "transfers_terminal": terminal,
        "transfer_statuses": dict(statuses),
        "balanced": settled,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(label: str, soak: Soak, elapsed: float, reconciliation: dict[str, Any]) -> dict[str, Any]:
    stats = soak.stats
    total = sum(len(v) for v in stats.latencies.values())
    errors = sum(stats.errors.values())
    print(f"\n== soak on {label}: {elapsed:.0f}s, {total} requests, error rate {errors / max(total, 1):.4%}")
    print(f"{'endpoint':34} {'count':>7} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9}")
    rows = {}
    for endpoint in sorted(stats.latencies):
        values = stats.latencies[endpoint]
        p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        rows[endpoint] = {
            "count": len(values),
            "errors": stats.errors[endpoint],
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
        }
        print(f"{endpoint:34} {len(values):7d} {stats.errors[endpoint]:7d} {p50:9.1f} {p99:9.1f}")
    for endpoint, sample in stats.samples.items():
        print(f"   first error of {endpoint}: {sample}")
    print("reconciliation:")
    for key, value in reconciliation.items():
        print(f"   {key}: {value}")
    verdict = reconciliation["balanced"] and reconciliation["events_in_outbox"] > 0
    print(f"   => {'BALANCED' if verdict else 'NOT BALANCED'}")
    return {
        "database": label,
        "seconds": round(elapsed),
        "requests": total,
        "errors": errors,
        "endpoints": rows,
        "reconciliation": reconciliation,
        "balanced": verdict,
    }


def soak_once(
    label: str, seconds: float, rates: dict[str, float], database_url: str | None
) -> dict[str, Any]:
    from shared.db import utcnow

    with running_stack(database_url=database_url) as stack:
        soak = Soak(stack, seconds, rates)
        soak.setup()
        since = utcnow()
        elapsed = soak.run()
        reconciliation = reconcile(stack, soak, since)
        soak.pool.shutdown()
        return report(label, soak, elapsed, reconciliation)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument("--databases", default=os.environ.get("SOAK_DATABASES", "sqlite,postgres"))
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SOAK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    for name, rate in RATES.items():
        parser.add_argument(f"--{name}-rate", type=float, default=rate, help=f"per second (default {rate})")
    args = parser.parse_args()
    rates = {name: getattr(args, f"{name}_rate") for name in RATES}
    print(f"soak: {args.seconds:.0f}s per database at {rates} requests (flows) per second")
    results = []
    for database in args.databases.split(","):
        database = database.strip()
        url = None if database == "sqlite" else args.postgres_url
        results.append(soak_once(database, args.seconds, rates, url))
    print("SOAK " + json.dumps(results, ensure_ascii=False))
    sys.exit(0 if all(r["balanced"] for r in results) else 1)


if __name__ == "__main__":
    main()
