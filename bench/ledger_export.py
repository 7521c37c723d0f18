"""The ledger export (台账) at 100,000 mobile members on PostgreSQL, through the registration API
(Flask test client, the response consumed as a download would), against the same SQL run
directly (a server-side cursor read to its end) in the same run; and the peak Python memory
(tracemalloc) of an export of 10,000 rows against one of 100,000: flat memory means about the
same peak for ten times the rows.

    .venv/bin/python -m bench.ledger_export [--rows 100000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import emit
from bench.registration_common import fresh_postgres

COLUMNS = (
    "id", "name", "gender", "birth_date", "id_number", "phone", "status", "branch_code", "branch_path",
    "joined_on", "dues_paid_through", "mobile", "lost_contact", "last_contact_at", "occupation", "employer",
    "current_address", "departed_on", "contact_phone", "activity_card_no", "destination_region",
    "created_at", "version",
)  # fmt: skip


def make_orgs(client: Any, admin: dict[str, str]) -> dict[str, str]:
    """A province and county with two townships of one branch each; returns name → code."""
    codes: dict[str, str] = {}
    for name, level, parent in (
        ("province", "province", "CN"),
        ("county", "county", "province"),
        ("small", "township", "county"),
        ("small_branch", "branch", "small"),
        ("large", "township", "county"),
        ("large_branch", "branch", "large"),
    ):
        code = f"BENCH-{name.upper().replace('_', '-')}"
        body = {
            "code": code,
            "name": f"{name} 党组织",
            "level": level,
            "parent_code": codes.get(parent, parent),
            "region": "330602",
        }
        response = client.post("/api/v1/orgs", json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        codes[name] = code
    return codes


def copy_members(database: Any, branch: str, branch_path: str, count: int, first: int) -> None:
    from services.registration.domain import id_check_digit
    from shared.db import new_id

    now = datetime.now(UTC)
    born = date(1988, 3, 9)
    with database.engine.raw_connection() as raw:
        with (
            raw.driver_connection.cursor() as cursor,
            cursor.copy(f"COPY members ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for n in range(first, first + count):
                first17 = f"{700000 + n // 1000:06d}{born:%Y%m%d}{n % 1000:03d}"
                copy.write_row(
                    (
                        new_id(), f"成员{n}", "female" if n % 2 else "male", born,
                        first17 + id_check_digit(first17), f"139{n:08d}", "full", branch, branch_path,
                        date(2010, 7, 1), "2026-10", True, n % 7 == 0, now, "务工",
                        "=HYPERLINK(\"x\")" if n % 1000 == 0 else "绍兴某纺织公司", "浙江省绍兴市越城区",
                        now.date() - timedelta(days=30), f"138{n:08d}", f"BENCH-2026-{n:06d}", "330602",
                        now, 1,
                    )
                )  # fmt: skip
        raw.commit()


def consume(client: Any, path: str, headers: dict[str, str]) -> int:
    """Download `path` as a browser would (chunk by chunk); returns the bytes received."""
    response = client.get(path, headers=headers, buffered=False)
    assert response.status_code == 200, response.status_code
    received = 0
    for chunk in response.response:
        received += len(chunk)
    response.close()
    return received


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def peak_memory(action: Callable[[], Any]) -> float:
    """The peak Python allocation (MiB) while `action` runs."""
    tracemalloc.start()
    try:
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    small_rows = args.rows // 10

    from services.registration import ledger_export
    from services.registration.app import MIGRATIONS, create_app
    from services.registration.settings import RegistrationSettings
    from shared.auth import issue_token
    from shared.db import migrate, service_database
    from shared.settings import DEV_JWT_SECRET

    with fresh_postgres() as url:
        database = service_database(url, "registration")
        migrate(database, MIGRATIONS)
        settings = RegistrationSettings.from_env().with_overrides(database_url=url)
        client = create_app(settings).test_client()
        admin = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench", "admin", "CN")}
        codes = make_orgs(client, admin)
        started = time.perf_counter()
        for size, township, first in ((small_rows, "small", 0), (args.rows, "large", small_rows)):
            path = (
                f"/CN/{codes['province']}/{codes['county']}/{codes[township]}/{codes[township + '_branch']}/"
            )
            copy_members(database, codes[township + "_branch"], path, size, first)
        print(
            f"seeded {small_rows + args.rows:,} mobile members in {time.perf_counter() - started:.1f} s (COPY)"
        )

        def export(township: str, file_format: str, masked: bool = True) -> Callable[[], int]:
            query = f"org={codes[township]}&format={file_format}&masked={'true' if masked else 'false'}"
            return lambda: consume(client, f"/api/v1/ledger?{query}", admin)

        def same_sql() -> int:
            # The export's own statement, read to its end through a server-side cursor.
            path = f"/CN/{codes['province']}/{codes['county']}/{codes['large']}/"
            rows = 0
            with database.reader() as session:
                for _ in session.execute(ledger_export._statement(path).execution_options(yield_per=2000)):
                    rows += 1
            assert rows == args.rows, rows
            return rows

        sql_seconds = min(timed(same_sql) for _ in range(2))
        print(f"the same SQL, direct: {args.rows:,} rows in {sql_seconds:.2f} s")
        for file_format in ("csv", "xlsx"):
            seconds = timed(export("large", file_format, masked=False))
            print(
                f"{file_format} export of {args.rows:,} rows: {seconds:.2f} s ({seconds / sql_seconds:.1f}× the SQL)"
            )
            emit(
                f"ledger {file_format} export, {args.rows:,} rows (lower is better)",
                seconds,
                "s",
                "the same SQL, direct",
                sql_seconds,
            )
        for file_format in ("csv", "xlsx"):
            small = peak_memory(export("small", file_format))
            large = peak_memory(export("large", file_format))
            print(
                f"{file_format} peak Python memory: {small:.1f} MiB at {small_rows:,} rows,"
                f" {large:.1f} MiB at {args.rows:,} rows"
            )
            emit(
                f"ledger {file_format} peak memory at {args.rows:,} rows (flat: ratio ≈ 1)",
                large,
                "MiB",
                f"peak memory at {small_rows:,} rows",
                small,
            )
        database.dispose()


if __name__ == "__main__":
    main()
