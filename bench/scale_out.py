"""`make scale-test`: the scale-out proof on this machine.

PostgreSQL; a real 3-node RabbitMQ cluster (bench/rabbit_cluster.py) whose quorum queues are
replicated on all three nodes; two replicas of every process (APIs, relays, the notify
consumer, dispatchers, workers), replica A on broker node 1 and replica B on node 2, behind a
round-robin client that retries a failed request on the other replica with the same
Idempotency-Key. Under the mixed open load of bench/soak.py (check-ins, claims, transfers to
completion, inbox reads):

  at 25% of the run  broker node 2 is killed (SIGKILL of its runtime),
  at 45%             it is started again and rejoins,
  at 60%             one replica of every process kind is killed (all of replica B, SIGKILL),

then it reconciles: every accepted check-in and claim has exactly one row (and no row exists
without an accepted request), every event in the outboxes was published and has exactly one
notification per recipient, every transfer started reached a terminal state with exactly one
completion event. Prints the figures; exits 1 if anything does not balance.

    .venv/bin/python -m bench.scale_out [--seconds 180] [--postgres-url URL]

Too long for CI (about 5 minutes with the cluster's start).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.accounting import delta, snapshot, tree_cpu, tree_peak_mb  # noqa: E402
from bench.rabbit_cluster import RabbitCluster  # noqa: E402
from bench.soak import ADMIN, RATES, TERMINAL, Soak, bearer, reconcile  # noqa: E402
from shared.settings import DEV_JWT_SECRET, PROJECT_ROOT, SERVICES  # noqa: E402

APIS = [f"{service}-api" for service in SERVICES]
POSTS_TRACKED = {"POST /checkins": "checkins", "POST /tasks/{id}/claims": "claims"}


class RoundRobin(dict[str, str]):
    """`url[service]` gives each replica's base URL in turn, skipping replicas marked down."""

    def __init__(self, replicas: dict[str, list[str]]) -> None:
        super().__init__({service: urls[0] for service, urls in replicas.items()})
        self.replicas = replicas
        self.down: set[str] = set()
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def __getitem__(self, service: str) -> str:
        live = [url for url in self.replicas[service] if url not in self.down] or self.replicas[service]
        with self._lock:
            return live[next(self._turn) % len(live)]

    def other(self, url: str) -> str:
        for urls in self.replicas.values():
            if url in urls:
                live = [u for u in urls if u != url and u not in self.down]
                return live[0] if live else url
        return url


class ScaleSoak(Soak):
    """The soak's streams through the round robin, with retries on the other replica."""

    def __init__(self, stack: Any, seconds: float, rates: dict[str, float], urls: RoundRobin) -> None:
        super().__init__(stack, seconds, rates)
        self.url = urls
        self.urls = urls
        self.accepted: dict[str, list[str]] = {name: [] for name in POSTS_TRACKED.values()}
        self.retried = 0
        # Requests never answered for sure (the replica died with them, or their key was still
        # held by the dead replica's request): they may have had their effect once, or not at all.
        self.in_doubt: dict[str, list[str]] = {name: [] for name in POSTS_TRACKED.values()}
        self.done_at: dict[str, list[float]] = {}  # endpoint → when each 2xx answer came

    def call(
        self, endpoint: str, due: float, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> requests.Response | None:
        headers = dict(headers)
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())  # the same on every retry of this request
        response: requests.Response | None = None
        error = ""
        for attempt in range(4):
            try:
                response = self.http().request(method, url, json=body, headers=headers, timeout=60)
                if response.status_code not in (502, 503, 504):
                    break
            except requests.RequestException as failure:
                response, error = None, type(failure).__name__
            # A replica that is gone or overloaded: the same request on the other one.
            self.retried += 1
            base = url.split("/api/", 1)[0]
            url = self.urls.other(base) + "/api/" + url.split("/api/", 1)[1]
            time.sleep(0.2 * (attempt + 1))
        self.stats.record(endpoint, due, response, error)
        doubtful = (
            response is None
            or response.status_code >= 500
            or (response.status_code == 409 and "Idempotency" in response.text)
        )
        if doubtful and endpoint in POSTS_TRACKED:
            with self.transfer_lock:
                self.in_doubt[POSTS_TRACKED[endpoint]].append(
                    _claim_key(url, headers) if "claims" in url else ""
                )
        if response is not None and 200 <= response.status_code < 300:
            with self.transfer_lock:
                self.done_at.setdefault(endpoint, []).append(time.monotonic())
        if response is not None and 200 <= response.status_code < 300 and endpoint in POSTS_TRACKED:
            answer = response.json()
            # A check-in by its id; a claim by its task and member (one claim per member and task).
            key = answer["id"] if "id" in answer else f"{answer['task_id']}|{answer['member_id']}"
            with self.transfer_lock:
                self.accepted[POSTS_TRACKED[endpoint]].append(key)
        return response

    def _new_task(self) -> str:
        # Opening the next task for the claims stream is set-up, not load: an overloaded or
        # killed replica must not end the run, so it is tried again (the round robin moves on).
        for attempt in range(10):
            try:
                return super()._new_task()
            except (RuntimeError, requests.RequestException):
                if attempt == 9:
                    raise
                time.sleep(2.0)
        raise AssertionError("unreachable")

    def transfer(self, due: float) -> None:
        """Apply, then drive the transfer by what it waits for (read back after each step): a step
        whose answer was lost with a killed replica may still have been taken."""
        member = self.movers[next(self.mover_index)]
        created = self.call(
            "POST /transfers", due, "POST", f"{self.url['transfer']}/api/v1/transfers",
            bearer("member", self.codes["A"], member),
            {"member_id": member, "to_branch_code": self.codes["B"], "reason": "工作调动"},
        )  # fmt: skip
        if created is None or created.status_code != 201:
            return
        transfer = created.json()["id"]
        with self.transfer_lock:
            self.transfers.append(transfer)
        deciders = {
            "pending_sending_branch": bearer("branch_secretary", self.codes["A"]),
            "pending_township": bearer("township_officer", self.codes["township"]),
            "pending_receiving_branch": bearer("branch_secretary", self.codes["B"]),
        }
        for _ in range(20):
            path = f"/api/v1/transfers/{transfer}"
            read = self.call(
                "GET /transfers/{id}", time.monotonic(), "GET", self.url["transfer"] + path, ADMIN
            )
            status = read.json().get("status") if read is not None and read.status_code == 200 else None
            if status in TERMINAL:
                return
            if status == "letter_issued":
                step = self.call("POST /transfers/{id}/report", time.monotonic(), "POST",
                                 f"{self.url['transfer']}{path}/report", bearer("member", self.codes["B"], member), {})  # fmt: skip
            elif status in deciders:
                step = self.call("POST /transfers/{id}/decisions", time.monotonic(), "POST",
                                 f"{self.url['transfer']}{path}/decisions", deciders[status], {"decision": "approve"})  # fmt: skip
            else:
                step = None
            if step is None or step.status_code >= 300:
                time.sleep(1.0)


def _claim_key(url: str, headers: dict[str, str]) -> str:
    """task|member of a claim request (the member is the token's subject)."""
    from shared.auth import decode_token

    task = url.rsplit("/tasks/", 1)[1].split("/", 1)[0]
    token = headers["Authorization"].split(" ", 1)[1]
    return f"{task}|{decode_token(token, DEV_JWT_SECRET).sub}"


class Replicas:
    """Replica A and B of the stack (tests.support.stack.Stack each), sharing the database,
    Temporal and the broker prefix; each on its own broker node."""

    def __init__(self, var_dir: Path, env: dict[str, str], amqp_urls: list[str]) -> None:
        from tests.support.stack import Stack

        self.stacks = {}
        for label, amqp_url in zip("AB", amqp_urls, strict=True):
            log_dir = var_dir / f"logs-{label}"
            log_dir.mkdir(parents=True)
            self.stacks[label] = Stack(log_dir, {**env, "AMQP_URL": amqp_url})
        self.env = self.stacks["A"].env

    def url(self, service: str) -> str:
        return self.stacks["A"].url(service)

    def kinds(self) -> list[str]:
        return [name for name in self.stacks["A"].commands if name not in ("temporal", "console-web")]


def timeline(soak_seconds: float, steps: list[tuple[float, str, Callable[[], None]]]) -> threading.Thread:
    """Run each step at its fraction of the load's duration, on a thread; prints when."""
    started = time.monotonic()

    def run() -> None:
        for fraction, label, action in steps:
            delay = started + fraction * soak_seconds - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            at = time.monotonic() - started
            try:
                action()
                print(f"  t={at:5.0f}s  {label}", flush=True)
            except Exception as error:  # noqa: BLE001 - reported; the reconciliation decides
                print(f"  t={at:5.0f}s  {label} FAILED: {error}", flush=True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def exactly_once(env: dict[str, str], soak: ScaleSoak, since: Any) -> dict[str, Any]:
    """Each accepted check-in and claim is one row; no row without an accepted request; one
    completion event per completed transfer; no notification twice for one recipient."""
    from sqlalchemy import func, select

    from deploy.processes import service_module, settings_of
    from services.notify.models import Notification
    from services.registration.models import Checkin
    from services.tasks.models import Claim
    from services.transfer.models import outbox as transfer_outbox
    from shared.contracts import transfer as trf

    def database(service: str) -> Any:
        return service_module(service, "app").open_database(settings_of(service, env))

    found: dict[str, Any] = {}
    for name, service, keys, at in (
        ("checkins", "registration", (Checkin.id,), Checkin.created_at),
        ("claims", "tasks", (Claim.task_id, Claim.member_id), Claim.claimed_at),
    ):
        accepted = soak.accepted[name]
        db = database(service)
        with db.reader() as session:
            rows = ["|".join(row) for row in session.execute(select(*keys).where(at >= since))]
        db.dispose()
        extra = set(rows) - set(accepted)
        doubtful = soak.in_doubt[name]
        found[name] = {"accepted": len(accepted), "distinct": len(set(accepted)),
                       "rows_of_accepted": len(set(accepted) & set(rows)), "rows_in_run": len(rows),
                       "in_doubt": len(doubtful), "rows_of_in_doubt": len(extra),
                       # A claim in doubt is known by task and member: its row must be one of them.
                       "rows_explained": len(extra) <= len(doubtful)
                       and (name != "claims" or extra <= set(doubtful))}  # fmt: skip
    table = transfer_outbox.table
    db = database("transfer")
    with db.reader() as session:
        completions = dict(
            session.execute(
                select(table.c.subject, func.count())
                .where(table.c.event_type == trf.COMPLETED, table.c.created_at >= since)
                .group_by(table.c.subject)
            ).all()
        )
    db.dispose()
    found["transfer_completions"] = {
        "completed_transfers": len(completions),
        "completed_more_than_once": sum(1 for n in completions.values() if n != 1),
    }
    db = database("notify")
    with db.reader() as session:
        twice = session.scalar(
            select(func.count()).select_from(
                select(Notification.event_id)
                .where(Notification.created_at >= since)
                .group_by(Notification.event_id, Notification.recipient_kind, Notification.recipient)
                .having(func.count() > 1)
                .subquery()
            )
        )
    db.dispose()
    found["notifications_twice_for_a_recipient"] = twice or 0
    return found


def prepare_database(postgres_url: str) -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text

    from shared.db import drop_database
    from shared.settings import normalise_postgres_url

    admin = normalise_postgres_url(postgres_url)
    name = f"nuanliu_scale_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        drop_database(engine, name)
        engine.dispose()

    return admin.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:  # noqa: PLR0915 - one story, told in order
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SCALE_SECONDS", "180")))
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCALE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()

    import subprocess

    from shared.db import utcnow
    from tests.support.infra import delete_topology
    from tests.support.stack import free_port

    var_dir = PROJECT_ROOT / "var" / f"scale-{secrets.token_hex(3)}"
    var_dir.mkdir(parents=True)
    cluster = RabbitCluster(var_dir)
    database_url, drop_database = prepare_database(args.postgres_url)
    prefix = f"scale-{secrets.token_hex(3)}."
    temporal_port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "NUANLIU_BROKER_PREFIX": prefix,
        "NUANLIU_VAR_DIR": str(var_dir),
        "NUANLIU_RELAY_POLL_INTERVAL": "0.1",
        "NUANLIU_WEB_WORKERS": "1",
        "TEMPORAL_PORT": str(temporal_port),
        "TEMPORAL_UI_PORT": str(free_port()),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "NUANLIU_TASK_QUEUE": f"scale-{temporal_port}",
    }
    replicas: Replicas | None = None
    balanced = False
    try:
        began = time.monotonic()
        cluster.start()
        print(f"broker cluster: {cluster.running_nodes()} ({time.monotonic() - began:.0f}s to form)")
        subprocess.run(
            [str(Path(sys.executable).parent / "nuanliu"), "migrate"],
            cwd=PROJECT_ROOT, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        replicas = Replicas(var_dir, env, [cluster.nodes[0].url, cluster.nodes[1].url])
        a, b = replicas.stacks["A"], replicas.stacks["B"]
        a.start("temporal")
        kinds = replicas.kinds()
        for stack in (a, b):
            stack.start(*kinds)
        for stack in (a, b):
            stack.wait_ready(*SERVICES, timeout=240)
        print(f"two replicas of {len(kinds)} process kinds ready: {', '.join(kinds)}")
        urls = RoundRobin({s: [a.url(s), b.url(s)] for s in SERVICES})
        soak = ScaleSoak(replicas, args.seconds, dict(RATES), urls)
        soak.setup()
        quorum = cluster.quorum_members(f"{prefix}notify")
        print(f"notify's quorum queue has replicas on {quorum} of {len(cluster.nodes)} nodes")
        since = utcnow()

        window: dict[str, Any] = {}

        def measure(key: str) -> None:
            window[key] = (
                time.monotonic(),
                utcnow(),
                {
                    f"{label}:{name}": cpu
                    for label, stack in list(replicas.stacks.items())
                    for name, cpu in snapshot(stack.processes).items()
                },
                {node.name: tree_cpu(cluster.os_pid(node)) for node in (cluster.nodes[0], cluster.nodes[2])},
            )
            if key == "end":
                window["memory"] = {
                    f"{label}:{name}": tree_peak_mb(popen.pid)
                    for label, stack in list(replicas.stacks.items())
                    for name, popen in stack.processes.items()
                }

        def kill_b() -> None:
            measure("end")
            for name in kinds:
                b.kill(name)
            urls.down.update(b.url(s) for s in SERVICES)

        steps = [
            (
                0.25,
                f"killed broker node {cluster.nodes[1].name} (SIGKILL)",
                lambda: cluster.kill(cluster.nodes[1]),
            ),
            (0.45, f"restarted {cluster.nodes[1].name}", lambda: cluster.start_node(cluster.nodes[1])),
            (0.60, f"killed replica B of all {len(kinds)} process kinds (SIGKILL)", kill_b),
        ]
        print(f"load for {args.seconds:.0f}s at {RATES} per second:")
        measure("start")
        events = timeline(args.seconds, steps)
        elapsed = soak.run()
        events.join()
        print(f"cluster after the run: {cluster.running_nodes()}")
        reconciliation = reconcile(replicas, soak, since, timeout=300)
        once = exactly_once(replicas.env, soak, since)
        soak.pool.shutdown()
        balanced = report(soak, elapsed, reconciliation, once, quorum)
        costs(replicas, soak, window)
    finally:
        for stack in replicas.stacks.values() if replicas else ():
            stack.stop()
        cluster.stop()
        try:
            delete_topology(prefix, ["notify", "transfer", "tasks", "registration"])
        except Exception:  # noqa: BLE001 - the nodes are stopped: their queues went with them
            pass
        drop_database()
    sys.exit(0 if balanced else 1)


def report(
    soak: ScaleSoak, elapsed: float, reconciliation: dict[str, Any], once: dict[str, Any], quorum: int
) -> bool:
    from bench.soak import percentile

    stats = soak.stats
    total = sum(len(v) for v in stats.latencies.values())
    errors = sum(stats.errors.values())
    print(f"\n== scale-out: {elapsed:.0f}s, {total} requests, {errors} failed after retries, "
          f"{soak.retried} retried on the other replica")  # fmt: skip
    print(f"{'endpoint':34} {'count':>7} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9}")
    for endpoint in sorted(stats.latencies):
        values = stats.latencies[endpoint]
        print(f"{endpoint:34} {len(values):7d} {stats.errors[endpoint]:7d} "
              f"{percentile(values, 0.5) * 1000:9.1f} {percentile(values, 0.99) * 1000:9.1f}")  # fmt: skip
    for endpoint, sample in stats.samples.items():
        print(f"   first error of {endpoint}: {sample}")
    print("reconciliation:")
    for key, value in {**reconciliation, **once}.items():
        print(f"   {key}: {json.dumps(value, ensure_ascii=False)}")
    effects_once = all(
        figures["accepted"] == figures["distinct"] == figures["rows_of_accepted"]
        and figures["rows_in_run"] == figures["accepted"] + figures["rows_of_in_doubt"]
        and figures["rows_explained"]
        for figures in (once["checkins"], once["claims"])
    )
    balanced = (
        reconciliation["balanced"]
        and reconciliation["events_in_outbox"] > 0
        and effects_once
        and once["transfer_completions"]["completed_more_than_once"] == 0
        and once["notifications_twice_for_a_recipient"] == 0
        and quorum == 3
    )
    print(f"   => {'BALANCED: zero lost, zero duplicated' if balanced else 'NOT BALANCED'}")
    return balanced


def table_sizes(database: Any) -> None:
    """Bytes per row (heap, TOAST and indexes) of the tables that grow with members' activity."""
    from sqlalchemy import text

    tables = [
        ("registration", "checkins"), ("registration", "outbox"), ("registration", "audit_log"),
        ("tasks", "claims"), ("tasks", "outbox"), ("transfer", "transfers"), ("transfer", "transfer_timeline"),
        ("transfer", "transfer_steps"), ("transfer", "outbox"), ("registration", "members"),
        ("notify", "notifications"), ("notify", "deliveries"), ("notify", "inbox"), ("notify", "idempotency_keys"),
        ("registration", "idempotency_keys"),
    ]  # fmt: skip
    print("table growth (bytes per row, indexes and TOAST included):")
    with database.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            try:
                rows, size = connection.execute(
                    text(f"SELECT count(*), pg_total_relation_size('{name}') FROM {name}")
                ).one()
            except Exception:  # noqa: BLE001 - a table this version does not have
                connection.rollback()
                continue
            print(f"   {schema}.{table:24} {rows:8d} rows {size / max(rows, 1):9.0f} B/row")


def costs(replicas: Replicas, soak: ScaleSoak, window: dict[str, Any]) -> None:
    """CPU per operation by process kind, over the window with both replicas up (load start to
    the kill of replica B, the broker node's crash and restart included), and peak memory."""
    from sqlalchemy import func, select

    from deploy.processes import service_module, settings_of
    from services.notify.models import Notification

    (t0, at0, cpu0, broker0), (t1, at1, cpu1, broker1) = window["start"], window["end"]
    ops = {endpoint: sum(1 for t in times if t0 <= t < t1) for endpoint, times in soak.done_at.items()}
    notify = service_module("notify", "app").open_database(settings_of("notify", replicas.env))
    with notify.reader() as session:
        ops["notifications"] = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.created_at >= at0,
                                                                 Notification.created_at < at1)
        ) or 0  # fmt: skip
    notify.dispose()
    spent: dict[str, float] = {}
    for key, seconds in delta(cpu0, cpu1).items():
        kind = key.split(":", 1)[1]
        spent[kind] = spent.get(kind, 0.0) + seconds
    broker = sum(broker1[n] - broker0[n] for n in broker0)
    print(f"\ncost window: {t1 - t0:.0f}s with both replicas up; operations answered 2xx in it:")
    print("   " + json.dumps(ops, ensure_ascii=False))
    print(f"{'process kind (both replicas)':32} {'CPU s':>8} {'CPU ms / op':>12}  per")
    per = {
        "registration-api": "POST /checkins", "tasks-api": "POST /tasks/{id}/claims",
        "transfer-api": "POST /transfers", "transfer-worker": "POST /transfers",
        "notify-consumer": "notifications", "notify-dispatcher": "notifications",
        "notify-api": "GET /notifications", "registration-relay": "POST /checkins",
        "tasks-relay": "POST /tasks/{id}/claims", "transfer-relay": "POST /transfers",
        "registration-worker": "POST /checkins", "tasks-worker": "POST /tasks/{id}/claims",
    }  # fmt: skip
    for kind, seconds in sorted(spent.items()):
        unit = per.get(kind, "")
        count = ops.get(unit, 0)
        print(f"{kind:32} {seconds:8.1f} {seconds * 1000 / count if count else float('nan'):12.1f}  {unit}")
    print(f"{'rabbitmq nodes 1 and 3':32} {broker:8.1f}")
    table_sizes(notify)
    print("peak RSS (MB; a gunicorn service: its largest worker) and processes per replica:")
    for key, (mb, count) in sorted(window["memory"].items()):
        print(f"   {key:34} {mb:7.1f} MB  ({count} process{'es' if count > 1 else ''})")


if __name__ == "__main__":
    main()
