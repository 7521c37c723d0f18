"""Check-in throughput of the registration API under gunicorn on PostgreSQL, with p50 and p99,
against two baselines served by the same gunicorn configuration in the same run:

- a bare JSON endpoint;
- a minimal check-in written directly (JWT decode, schema load, the same SQL statements in one
  transaction); see bench/registration_common.py.

The real API is measured twice: plain, and with an Idempotency-Key on every request (which
adds the key's claim and its stored response). Durability stays on: the database runs with
its default synchronous_commit and fsync. Target: real ≥ 0.8 × minimal.

    .venv/bin/python -m bench.registration_checkins [--seconds 8] [--clients 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from datetime import date

from bench.common import emit
from bench.registration_common import LoadResult, closed_loop, fresh_postgres, gunicorn

MEMBERS = 200


def prepare(url: str) -> tuple[str, list[tuple[str, str]]]:
    """Migrate, then one branch with MEMBERS members through the use cases; returns tokens."""
    from services.registration import commands
    from services.registration.app import MIGRATIONS
    from services.registration.unit_of_work import RegistrationUnitOfWork
    from shared.auth import Principal, issue_token
    from shared.db import migrate, service_database
    from shared.settings import DEV_JWT_SECRET
    from tests.support.builders import member_body

    database = service_database(url, "registration")
    migrate(database, MIGRATIONS)
    admin = Principal(sub="bench", role="admin", org="CN")
    parent = "CN"
    for level, code in (
        ("province", "BP"),
        ("county", "BP-K"),
        ("township", "BP-K-T"),
        ("branch", "BP-K-T-1"),
    ):
        commands.create_org(
            RegistrationUnitOfWork(database),
            admin,
            commands.CreateOrg(code=code, name=code, level=level, parent_code=parent),
        )
        parent = code
    tokens = []
    for _ in range(MEMBERS):
        body = member_body(parent)
        body["birth_date"] = date.fromisoformat(body["birth_date"])  # type: ignore[arg-type]
        body["joined_on"] = date.fromisoformat(body["joined_on"])  # type: ignore[arg-type]
        member_id = commands.create_member(
            RegistrationUnitOfWork(database),
            admin,
            commands.CreateMember(**body),  # type: ignore[arg-type]
        ).id
        tokens.append((member_id, issue_token(DEV_JWT_SECRET, member_id, "member", parent)))
    database.dispose()
    return parent, tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with fresh_postgres() as url:
        branch, tokens = prepare(url)
        env = {"REGISTRATION_DATABASE_URL": url, "NUANLIU_VAR_DIR": tempfile.mkdtemp(prefix="nuanliu-bench-")}

        def checkin(path: str, keyed: bool):  # noqa: ANN202
            def make(client: int, sent: int) -> tuple[str, str, bytes, dict[str, str]]:
                member_id, token = tokens[(client * 7919 + sent) % len(tokens)]
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                if keyed:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                body = json.dumps({"member_id": member_id, "branch_code": branch, "kind": "self"}).encode()
                return "POST", path, body, headers

            return make

        def bare(client: int, sent: int) -> tuple[str, str, None, dict[str, str]]:
            return "GET", "/bare", None, {}

        totals: dict[str, LoadResult] = {}
        with (
            gunicorn("bench.registration_common:create_baseline_app()", env, "/bare") as baseline_port,
            gunicorn("services.registration.app:create_app()", env, "/healthz") as api_port,
        ):
            plan = [
                ("bare JSON endpoint", baseline_port, bare, 200),
                ("minimal check-in (baseline)", baseline_port, checkin("/minimal/checkins", False), 201),
                ("registration API check-in", api_port, checkin("/api/v1/checkins", False), 201),
                (
                    "registration API check-in + Idempotency-Key",
                    api_port,
                    checkin("/api/v1/checkins", True),
                    201,
                ),
            ]
            for name, port, make, expect in plan:  # warm-up: connections, caches, JIT-free imports
                closed_loop(name, port, make, args.clients, 1.0, expect)
            # Interleaved rounds, so a noisy neighbour on the machine hurts every target alike.
            for _ in range(args.rounds):
                for name, port, make, expect in plan:
                    run = closed_loop(name, port, make, args.clients, args.seconds, expect)
                    total = totals.setdefault(name, LoadResult(name))
                    total.requests += run.requests
                    total.errors += run.errors
                    total.seconds += run.seconds
                    total.latencies.extend(run.latencies)

    print(
        f"{args.clients} closed-loop clients, {args.rounds} rounds of {args.seconds:.0f} s each, PostgreSQL"
    )
    for result in totals.values():
        print(result.line())
    bare_result = totals["bare JSON endpoint"]
    minimal = totals["minimal check-in (baseline)"]
    real = totals["registration API check-in"]
    keyed = totals["registration API check-in + Idempotency-Key"]
    print(f"ratio real/minimal: {real.throughput / minimal.throughput:.2f} (target ≥ 0.8)")
    print(f"ratio real+idempotency/minimal: {keyed.throughput / minimal.throughput:.2f}")
    emit("check-in throughput", real.throughput, "req/s", "minimal check-in", minimal.throughput)
    emit(
        "check-in throughput with Idempotency-Key",
        keyed.throughput,
        "req/s",
        "minimal check-in",
        minimal.throughput,
    )
    emit(
        "minimal check-in throughput",
        minimal.throughput,
        "req/s",
        "bare JSON endpoint",
        bare_result.throughput,
    )
    emit(
        "check-in p99 latency (lower is better)", real.percentile(0.99), "ms",
        "minimal check-in p99", minimal.percentile(0.99),
    )  # fmt: skip
    emit(
        "check-in p50 latency (lower is better)", real.percentile(0.5), "ms",
        "minimal check-in p50", minimal.percentile(0.5),
    )  # fmt: skip


if __name__ == "__main__":
    main()
