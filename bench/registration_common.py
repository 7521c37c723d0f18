"""What the registration benchmarks share: a fresh PostgreSQL database, gunicorn runners, a
closed-loop HTTP load generator, and the baseline app served beside the real API:

- `GET /bare`: a bare JSON endpoint;
- `POST /minimal/checkins`: a minimal check-in written directly: JWT decode, the same schema
  load, and the same SQL statements as the real use case (read the member and the branch,
  insert the check-in, update the member, insert the outbox row and the audit row) in one
  transaction; no scope rules, no idempotency, no event-contract validation, no metrics.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# --- the baseline app ---------------------------------------------------------------------


def create_baseline_app() -> object:
    import uuid

    import jwt
    from flask import Flask, Response, jsonify, request
    from sqlalchemy import insert, select, update

    from services.registration.models import Checkin, Member, Org, audit_log, outbox
    from services.registration.schemas import CheckinCreateSchema
    from services.registration.settings import RegistrationSettings
    from shared.db import new_id, service_database, utcnow

    settings = RegistrationSettings.from_env()
    database = service_database(settings.database_url, "registration", pool_size=10)
    schema = CheckinCreateSchema()
    app = Flask("registration-baseline")

    @app.get("/bare")
    def bare() -> Response:
        return jsonify({"ok": True})

    @app.post("/minimal/checkins")
    def minimal_checkin() -> Response | tuple[Response, int]:
        token = request.headers["Authorization"].split(" ", 1)[1]
        claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], audience="nuanliu")
        body = schema.load(request.get_json())
        now = utcnow()
        with database.transaction() as session:
            member = session.execute(select(Member).where(Member.id == body["member_id"])).scalar_one()
            branch = session.execute(select(Org).where(Org.code == body["branch_code"])).scalar_one()
            checkin_id = new_id()
            session.execute(
                insert(Checkin).values(
                    id=checkin_id,
                    member_id=member.id,
                    branch_code=branch.code,
                    kind=body["kind"],
                    occurred_at=now,
                    note=None,
                    recorded_by=claims["sub"],
                    created_at=now,
                )
            )
            session.execute(
                update(Member).where(Member.id == member.id).values(last_contact_at=now, lost_contact=False)
            )
            session.execute(
                outbox.table.insert().values(
                    event_id=str(uuid.uuid4()),
                    event_type="registration.member_checked_in.v1",
                    subject=member.id,
                    body=json.dumps({"checkin_id": checkin_id, "member_id": member.id}),
                    created_at=now,
                    attempts=0,
                )
            )
            session.execute(
                audit_log.insert().values(
                    id=new_id(),
                    at=now,
                    actor=claims["sub"],
                    actor_role=claims["role"],
                    action="create",
                    object_type="checkin",
                    object_id=checkin_id,
                )
            )
        return jsonify({"id": checkin_id, "member_id": member.id, "occurred_at": now.isoformat()}), 201

    return app


# --- a fresh database ---------------------------------------------------------------------


@contextmanager
def fresh_postgres(prefix: str = "nuanliu_bench") -> Iterator[str]:
    """A new PostgreSQL database for one run (dropped afterwards); yields its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text

    from shared.db import drop_database
    from shared.settings import normalise_postgres_url

    admin = normalise_postgres_url(PG_ADMIN_URL)
    name = f"{prefix}_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        drop_database(engine, name)
        engine.dispose()


# --- gunicorn -----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], probe: str, log: Path | None = None) -> Iterator[int]:
    """`app_spec` served with deploy/gunicorn.conf.py (the APIs' own configuration); its output
    goes to `log` when given (e.g. the access lines of a measured run)."""
    port = free_port()
    gunicorn_bin = str(Path(sys.executable).parent / "gunicorn")
    output = log.open("ab") if log is not None else None
    process = subprocess.Popen(
        [gunicorn_bin, "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", app_spec],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        start_new_session=True,
        stdout=output,
        stderr=output,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", probe)
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app_spec} did not start")
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        if output is not None:
            output.close()


# --- load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<44} {self.throughput:8.1f} req/s  p50 {self.percentile(0.5):6.1f} ms"
            f"  p99 {self.percentile(0.99):6.1f} ms  ({self.requests} requests, {self.errors} errors)"
        )


def closed_loop(
    name: str,
    port: int,
    make_request: Callable[[int, int], tuple[str, str, bytes | None, dict[str, str]]],
    clients: int,
    seconds: float,
    expect: int,
    rate: float | None = None,
) -> LoadResult:
    """`clients` threads, each with one keep-alive connection, sending back to back for `seconds`;
    or, given `rate`, paced: request k of client n is due at (k·clients + n) / rate seconds from
    the start, and its latency counts from when it was due, so a server that falls behind is
    charged for the wait too (no coordinated omission)."""
    result = LoadResult(name)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    begun = time.perf_counter()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sent = 0
        latencies: list[float] = []
        errors = 0
        while time.monotonic() < stop_at:
            method, path, body, headers = make_request(number, sent)
            started = time.perf_counter()
            if rate is not None:
                due = begun + (sent * clients + number) / rate
                if due > started:
                    time.sleep(due - started)
                started = due
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == expect
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1
            sent += 1
        connection.close()
        with lock:
            result.requests += sent
            result.errors += errors
            result.latencies.extend(latencies)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
