"""The member search on PostgreSQL at 1,000,000 members, through the registration API (Flask test
client, so our layers are in the figure), p50 and p95 per query against the same query's SQL run
directly on the same database in the same run.

`?q=` is a name containing the text within a scope (the pg_trgm GIN index on name, which migration
0007 makes when the extension can be created, and the path index); `?id_number=` is the exact
match through the keyed hash column. Names are drawn from common surnames and given characters, so
a search finds a handful of people, as a secretary's does. Seeding is bench.registration_scale's
COPY with the secondary indexes (the trigram one too) built afterwards.

    .venv/bin/python -m bench.registration_search [--orgs N] [--members N] [--samples 100]
"""

from __future__ import annotations

import argparse
import random
import time

from bench import registration_scale
from bench.common import emit
from bench.registration_common import fresh_postgres
from bench.registration_scale import PROVINCES, percentile, township_path

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬建国志文斌辉鹏宇浩凯健俊帆帅旭宁雪琳晨欣怡佳思雨梦婷雅楠鑫"
TRGM_INDEX = "ix_members_name_trgm"


def name_of(n: int) -> str:
    """A three-character name, the same for the same n: surname, then two given characters."""
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 97) % len(GIVEN)] + GIVEN[(n // 7919) % len(GIVEN)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()

    from sqlalchemy import bindparam, text, update

    from services.registration.app import create_app
    from services.registration.domain import id_number_hash
    from services.registration.models import Member
    from services.registration.settings import RegistrationSettings
    from shared.auth import issue_token
    from shared.db import service_database, table_of
    from shared.settings import DEV_JWT_SECRET

    # The trigram index is dropped before the COPY and built after it, like the others.
    registration_scale.SECONDARY_INDEXES["members"] += [
        TRGM_INDEX,
        "ix_members_branch_path_name",
        "ix_members_id_number_hash",
    ]
    with fresh_postgres() as url:
        seconds, _ = registration_scale.seed(url, args.orgs, args.members, name_of)
        database = service_database(url, "registration")
        started = time.perf_counter()
        with database.engine.begin() as connection:
            schema = connection.execute(
                text(
                    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                    " WHERE e.extname = 'pg_trgm'"
                )
            ).scalar()
            assert schema, "pg_trgm was not created by the migration: the search has no name index"
            connection.execute(text(f'CREATE INDEX {TRGM_INDEX} ON members USING gin (name "{schema}".gin_trgm_ops)'))
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE members"))
        trgm_seconds = time.perf_counter() - started
        settings = RegistrationSettings.from_env().with_overrides(database_url=url)
        # The keyed hashes of the members the ID search looks for (COPY left the column empty).
        rng = random.Random(13)
        with database.reader() as session:
            sampled = session.execute(
                text("SELECT id, id_number FROM members TABLESAMPLE SYSTEM (1) LIMIT :n"), {"n": args.samples}
            ).all()
        members = table_of(Member)
        with database.engine.begin() as connection:
            connection.execute(
                update(members).where(members.c.id == bindparam("key")),
                [{"key": row.id, "id_number_hash": id_number_hash(row.id_number, settings.id_hash_key)} for row in sampled],
            )
        print(
            f"seeded {args.members:,} members and {args.orgs:,} orgs in {seconds:.1f} s;"
            f" trigram index in {trgm_seconds:.1f} s"
        )
        client = create_app(settings).test_client()
        admin = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench", "admin", "CN")}
        townships = PROVINCES * 10 * 9 * 10
        # The statement the API runs: the ids of the matches, then their rows.
        like = (
            "SELECT * FROM members WHERE id IN (SELECT id FROM members WHERE branch_path LIKE :p"
            " AND name LIKE :q ESCAPE '\\' ORDER BY id || '' LIMIT 51) ORDER BY id LIMIT 51"
        )
        nationwide = (
            "SELECT * FROM members WHERE id IN (SELECT id FROM members WHERE name LIKE :q ESCAPE '\\'"
            " ORDER BY id || '' LIMIT 51) ORDER BY id LIMIT 51"
        )

        def a_name() -> str:
            return name_of(rng.randrange(args.members))

        def county() -> str:
            return township_path(rng.randrange(townships))[0][:-2]

        def province() -> str:
            return f"P{rng.randrange(PROVINCES):02d}"

        # (name, what makes (org, q) for a sample, SQL of the baseline)
        queries = [
            ("name search, full name, a county", lambda: (county(), a_name()), like),
            ("name search, given name, a province", lambda: (province(), a_name()[1:]), like),
            ("name search, full name, nationwide", lambda: ("CN", a_name()), nationwide),
            # Two characters have no trigram: nationwide, every name is read (the known limit).
            ("name search, given name, nationwide", lambda: ("CN", a_name()[1:]), nationwide),
        ]
        print(f"{'query':<40} {'API p50':>9} {'API p95':>9} {'SQL p50':>9} {'SQL p95':>9}")
        worst = 0.0

        def report(name: str, api_times: list[float], sql_times: list[float]) -> None:
            nonlocal worst
            api_p95, sql_p95 = percentile(api_times, 0.95), percentile(sql_times, 0.95)
            worst = max(worst, api_p95)
            print(
                f"{name:<40} {percentile(api_times, 0.5):7.1f}ms {api_p95:7.1f}ms"
                f" {percentile(sql_times, 0.5):7.1f}ms {sql_p95:7.1f}ms"
            )
            emit(f"{name} p95 (lower is better)", api_p95, "ms", "the same SQL, direct", sql_p95)

        for name, make, sql in queries:
            api_times: list[float] = []
            sql_times: list[float] = []
            for _ in range(args.samples):
                org, q = make()
                org_path = "/CN/" if org == "CN" else None
                if org_path is None:
                    with database.reader() as session:
                        org_path = session.execute(text("SELECT path FROM orgs WHERE code = :c"), {"c": org}).scalar()
                started = time.perf_counter()
                response = client.get(f"/api/v1/members?org={org}&q={q}&limit=50", headers=admin)
                api_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.get_json()
                started = time.perf_counter()
                with database.reader() as session:
                    session.execute(text(sql), {"p": f"{org_path}%", "q": f"%{q}%"}).all()
                sql_times.append(time.perf_counter() - started)
            report(name, api_times, sql_times)

        api_times, sql_times = [], []
        exact = "SELECT * FROM members WHERE id_number_hash = :h ORDER BY id LIMIT 51"
        for row in sampled:
            started = time.perf_counter()
            response = client.get(f"/api/v1/members?id_number={row.id_number}", headers=admin)
            api_times.append(time.perf_counter() - started)
            assert response.status_code == 200 and len(response.get_json()["items"]) == 1, response.get_json()
            started = time.perf_counter()
            with database.reader() as session:
                session.execute(text(exact), {"h": id_number_hash(row.id_number, settings.id_hash_key)}).all()
            sql_times.append(time.perf_counter() - started)
        report("ID number, exact (keyed hash)", api_times, sql_times)
        print(f"worst API p95: {worst:.1f} ms (target ≤ 50 ms) at {args.members:,} members")
        database.dispose()


if __name__ == "__main__":
    main()
