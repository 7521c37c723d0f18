"""Member lists and org subtree queries on PostgreSQL at scale, through the registration API
(Flask test client, so our layers are in the figure), with p50 and p95 per query, against the
same query's SQL run directly on the same database in the same run.

Default: 1,000,000 orgs and 200,000 members (about a minute of seeding on the 2-core machine).
`--orgs 5000000 --members 1000000` runs the full target scale. Seeding uses COPY with the
secondary indexes built afterwards, as a bulk load would.

    .venv/bin/python -m bench.registration_scale [--orgs N] [--members N] [--samples 200]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from bench.common import emit
from bench.registration_common import fresh_postgres

PROVINCES, CITIES, COUNTIES, TOWNSHIPS = 31, 10, 9, 10
UPPER_LEVELS = 1 + PROVINCES * (1 + CITIES * (1 + COUNTIES * (1 + TOWNSHIPS)))
SECONDARY_INDEXES = {
    "orgs": ["ix_orgs_path", "ix_orgs_region", "ix_orgs_parent_code", "ix_orgs_path_c"],
    "members": ["ix_members_branch_path_id", "ix_members_branch_id", "ix_members_contact"],
}


def township_path(t: int) -> tuple[str, str]:
    """The code and path of township number t (0-based), by arithmetic instead of a lookup."""
    p, rest = divmod(t, CITIES * COUNTIES * TOWNSHIPS)
    c, rest = divmod(rest, COUNTIES * TOWNSHIPS)
    k, w = divmod(rest, TOWNSHIPS)
    province = f"P{p:02d}"
    city = f"{province}C{c}"
    county = f"{city}K{k}"
    township = f"{county}T{w}"
    return township, f"/CN/{province}/{city}/{county}/{township}/"


def org_lines(total: int, now: str) -> Iterator[str]:
    townships = PROVINCES * CITIES * COUNTIES * TOWNSHIPS
    for p in range(PROVINCES):
        province = f"P{p:02d}"
        yield f"{province}\t省{p}\tprovince\tCN\t/CN/{province}/\t{p + 11}\t{now}\n"
        for c in range(CITIES):
            city = f"{province}C{c}"
            yield f"{city}\t市\tcity\t{province}\t/CN/{province}/{city}/\t{p + 11}{c:02d}\t{now}\n"
            for k in range(COUNTIES):
                county = f"{city}K{k}"
                region = f"{p + 11}{c:02d}{k:02d}"
                path = f"/CN/{province}/{city}/{county}/"
                yield f"{county}\t县\tcounty\t{city}\t{path}\t{region}\t{now}\n"
                for w in range(TOWNSHIPS):
                    township = f"{county}T{w}"
                    yield f"{township}\t镇\ttownship\t{county}\t{path}{township}/\t{region}{w:03d}\t{now}\n"
    per_township, extra = divmod(max(0, total - UPPER_LEVELS), townships)
    for t in range(townships):
        township, path = township_path(t)
        region = f"{int(township[1:3]) + 11}"
        for b in range(per_township + (1 if t < extra else 0)):
            yield f"{township}B{b}\t支部\tbranch\t{township}\t{path}{township}B{b}/\t{region}\t{now}\n"


def seed(url: str, orgs: int, members: int, name_of: Callable[[int], str] | None = None) -> tuple[float, int]:
    from sqlalchemy import text

    from services.registration.app import MIGRATIONS
    from services.registration.domain import id_check_digit
    from shared.db import migrate, new_id, service_database

    database = service_database(url, "registration")
    migrate(database, MIGRATIONS)
    started = time.perf_counter()
    now = datetime.now(UTC).isoformat()
    townships = PROVINCES * CITIES * COUNTIES * TOWNSHIPS
    per_township, extra = divmod(max(0, orgs - UPPER_LEVELS), townships)
    with database.engine.raw_connection() as raw, raw.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute("SET session_replication_role = replica")  # no per-row FK triggers in a bulk load
        for indexes in SECONDARY_INDEXES.values():
            for index in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {index}")
        columns = "code, name, level, parent_code, path, region, created_at"
        with cursor.copy(f"COPY orgs ({columns}) FROM STDIN") as copy:
            batch: list[str] = []
            for line in org_lines(orgs, now):
                batch.append(line)
                if len(batch) == 5000:
                    copy.write("".join(batch))
                    batch.clear()
            copy.write("".join(batch))
        rng = random.Random(7)
        columns = (
            "id, name, gender, birth_date, id_number, phone, status, branch_code, branch_path, joined_on,"
            " dues_paid_through, mobile, lost_contact, last_contact_at, created_at, version"
        )
        with cursor.copy(f"COPY members ({columns}) FROM STDIN") as copy:
            batch = []
            for n in range(members):
                t = rng.randrange(townships)
                count = per_township + (1 if t < extra else 0)
                township, path = township_path(t)
                branch = f"{township}B{rng.randrange(max(count, 1))}"
                first17 = f"{110000 + n // 1000:06d}19850301{n % 1000:03d}"
                batch.append(
                    f"{new_id()}\t{name_of(n) if name_of else f'成员{n}'}\tmale\t1985-03-01\t{first17}{id_check_digit(first17)}\t139{n:08d}\tfull"
                    f"\t{branch}\t{path}{branch}/\t2010-07-01\t2026-10\t{'t' if n % 10 == 0 else 'f'}\tf"
                    f"\t{now}\t{now}\t1\n"
                )
                if len(batch) == 5000:
                    copy.write("".join(batch))
                    batch.clear()
            copy.write("".join(batch))
        raw.commit()
        cursor.execute("SET session_replication_role = origin")
    # The indexes again, as the migrations define them (SQLAlchemy metadata plus the C index).
    from services.registration.models import Base

    with database.engine.begin() as connection:
        for table_name in ("orgs", "members"):
            for table_index in Base.metadata.tables[table_name].indexes:
                table_index.create(connection, checkfirst=True)
        connection.execute(text('CREATE INDEX IF NOT EXISTS ix_orgs_path_c ON orgs (path COLLATE "C")'))
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE orgs"))
        connection.execute(text("VACUUM ANALYZE members"))
    database.dispose()
    return time.perf_counter() - started, per_township


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    from sqlalchemy import text

    from services.registration.app import create_app
    from services.registration.settings import RegistrationSettings
    from shared.auth import issue_token
    from shared.db import service_database
    from shared.settings import DEV_JWT_SECRET

    with fresh_postgres() as url:
        seconds, per_township = seed(url, args.orgs, args.members)
        database = service_database(url, "registration")
        with database.reader() as session:
            counted_orgs = session.execute(text("SELECT count(*) FROM orgs")).scalar_one()
            counted_members = session.execute(text("SELECT count(*) FROM members")).scalar_one()
        print(
            f"seeded {counted_orgs:,} orgs and {counted_members:,} members in {seconds:.1f} s (COPY + indexes)"
        )
        settings = RegistrationSettings.from_env().with_overrides(database_url=url)
        client = create_app(settings).test_client()
        admin = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench", "admin", "CN")}
        rng = random.Random(11)

        def township() -> str:
            return township_path(rng.randrange(PROVINCES * CITIES * COUNTIES * TOWNSHIPS))[0]

        # (name, API path, the same query's SQL for the baseline, its parameters)
        queries = [
            (
                "members of a county subtree",
                lambda: f"/api/v1/members?branch={township()[:-2]}&limit=50",
                "SELECT * FROM members WHERE branch_path LIKE :p ORDER BY id LIMIT 51",
            ),
            (
                "members of a province subtree",
                lambda: f"/api/v1/members?branch=P{rng.randrange(PROVINCES):02d}&limit=50",
                "SELECT * FROM members WHERE branch_path LIKE :p ORDER BY id LIMIT 51",
            ),
            (
                "mobile members of a county subtree",
                lambda: f"/api/v1/members?branch={township()[:-2]}&mobile=true&limit=50",
                "SELECT * FROM members WHERE branch_path LIKE :p AND mobile ORDER BY id LIMIT 51",
            ),
            (
                "members of one branch",
                lambda: f"/api/v1/members?branch={township()}B{rng.randrange(max(per_township, 1))}&limit=50",
                "SELECT * FROM members WHERE branch_code = :c ORDER BY id LIMIT 51",
            ),
            (
                "orgs of a county subtree",
                lambda: f"/api/v1/orgs?under={township()[:-2]}&limit=50",
                'SELECT * FROM orgs WHERE path COLLATE "C" LIKE :p AND code <> :c ORDER BY path COLLATE "C" LIMIT 51',
            ),
            (
                "orgs of a province subtree",
                lambda: f"/api/v1/orgs?under=P{rng.randrange(PROVINCES):02d}&limit=50",
                'SELECT * FROM orgs WHERE path COLLATE "C" LIKE :p AND code <> :c ORDER BY path COLLATE "C" LIMIT 51',
            ),
            (
                "children of a township",
                lambda: f"/api/v1/orgs?parent={township()}&limit=50",
                "SELECT * FROM orgs WHERE parent_code = :c ORDER BY code LIMIT 51",
            ),
        ]
        print(f"{'query':<38} {'API p50':>9} {'API p95':>9} {'SQL p50':>9} {'SQL p95':>9}")
        worst = 0.0
        for name, make_path, sql in queries:
            api_times: list[float] = []
            sql_times: list[float] = []
            for _ in range(args.samples):
                path = make_path()
                code = path.split("=", 1)[1].split("&", 1)[0]
                with database.reader() as session:
                    org_path = session.execute(
                        text("SELECT path FROM orgs WHERE code = :c"), {"c": code}
                    ).scalar()
                started = time.perf_counter()
                response = client.get(path, headers=admin)
                api_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.get_json()
                started = time.perf_counter()
                with database.reader() as session:
                    session.execute(text(sql), {"p": f"{org_path}%", "c": code}).all()
                sql_times.append(time.perf_counter() - started)
            api_p95, sql_p95 = percentile(api_times, 0.95), percentile(sql_times, 0.95)
            worst = max(worst, api_p95)
            print(
                f"{name:<38} {percentile(api_times, 0.5):7.1f}ms {api_p95:7.1f}ms"
                f" {percentile(sql_times, 0.5):7.1f}ms {sql_p95:7.1f}ms"
            )
            emit(f"{name} p95 (lower is better)", api_p95, "ms", "the same SQL, direct", sql_p95)
        print(
            f"worst API p95: {worst:.1f} ms (target ≤ 50 ms) at {counted_orgs:,} orgs, {counted_members:,} members"
        )
        database.dispose()


if __name__ == "__main__":
    main()
