"""The dashboards' registration figures at scale on PostgreSQL (issue 22): `stats/breakdown` and
`stats/flows` through the API (Flask test client), against `stats/coverage` (the existing stats
endpoint over the same rows) in the same run, at a county, a province and the root; with the
plans (EXPLAIN ANALYZE) of the breakdown's grouped count.

    .venv/bin/python -m bench.dashboard_stats [--orgs N] [--members N] [--samples 30]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from sqlalchemy import text

from bench.common import emit
from bench.registration_common import fresh_postgres
from bench.registration_scale import percentile, seed
from tests.support.tokens import ADMIN


def measure(client: Any, url: str, headers: dict[str, str], samples: int) -> list[float]:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_json()
    return timings


def captured(client: Any, path: str) -> list[tuple[str, Any]]:
    """The SQL statements one request sends, with their parameters."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        assert client.get(path, headers=ADMIN).status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()

    from services.registration.app import create_app
    from services.registration.settings import RegistrationSettings
    from shared.clock import current_month
    from shared.db import service_database

    with fresh_postgres("nuanliu_dash") as url:
        seconds, _ = seed(url, args.orgs, args.members)
        database = service_database(url, "registration")
        with database.engine.begin() as connection:
            # Every tenth member is mobile (seed); give them a destination, and a few an inflow.
            connection.execute(text("UPDATE members SET destination_region = '440305' WHERE mobile"))
            connection.execute(
                text(
                    "UPDATE members SET inflow_branch_code = branch_code, inflow_branch_path = branch_path"
                    " WHERE mobile AND right(id, 1) IN ('0', '1')"
                )
            )
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE members"))
        client = create_app(RegistrationSettings.from_env().with_overrides(database_url=url)).test_client()
        month = current_month()
        scopes = {"county": "P00C0K0", "province": "P00", "root": "CN"}
        print(f"seeded {args.members} members, {args.orgs} orgs in {seconds:.0f} s")
        for label, org in scopes.items():
            baseline = percentile(
                measure(client, f"/api/v1/stats/coverage?org={org}&month={month}", ADMIN, args.samples), 0.95
            )
            for name, path in (("breakdown", f"/api/v1/stats/breakdown?org={org}&month={month}"),
                               ("flows", f"/api/v1/stats/flows?org={org}")):  # fmt: skip
                value = percentile(measure(client, path, ADMIN, args.samples), 0.95)
                emit(f"stats_{name}_{label}_p95", value, "ms", f"stats_coverage_{label}_p95", baseline)
        # The plans of the statements the endpoints really send (captured from the engine).
        for label, org in (("county", scopes["county"]), ("province", scopes["province"])):
            for path in (
                f"/api/v1/stats/breakdown?org={org}&month={month}",
                f"/api/v1/stats/flows?org={org}",
            ):
                for statement, parameters in captured(client, path):
                    if "GROUP BY" not in statement:
                        continue
                    with database.engine.connect() as connection:
                        plan = connection.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                        )
                        print(f"--- {label} {path.split('?')[0]}\n" + "\n".join(row[0] for row in plan))
        database.dispose()


if __name__ == "__main__":
    main()
