"""The member search on PostgreSQL at 1,000,000 members, through the registration API (Flask test
client, so our layers are in the figure), p50 and p95 per query against the same query's SQL run
directly on the same database in the same run.

`?q=` is a name containing the text within a scope, found through member_name_grams (one row per
character and character pair of a name, docs/decisions/0022): a county, a province and the
nation, each with one character (王, the surname of about a tenth of the members here, the worst
single character), two (a given name) and three (a full name). `?id_number=` is the exact match
through the keyed hash column. Names are drawn from common surnames and given characters, so a
name of two or three characters finds a handful of people, as a secretary's search does.
Seeding is bench.registration_scale's COPY (the grams too), secondary indexes built afterwards.

    .venv/bin/python -m bench.registration_search [--orgs N] [--members N] [--samples 100]
"""

from __future__ import annotations

import argparse
import logging
import random
import time

from bench import registration_scale
from bench.common import emit
from bench.registration_common import fresh_postgres
from bench.registration_scale import PROVINCES, percentile, township_path

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬建国志文斌辉鹏宇浩凯健俊帆帅旭宁雪琳晨欣怡佳思雨梦婷雅楠鑫"
GRAM_INDEX = "ix_member_name_grams_scope"


def name_of(n: int) -> str:
    """A three-character name, the same for the same n: surname, then two given characters.
    One in ten is a 王 besides its share of the list, as China's commonest surname is."""
    surname = SURNAMES[0] if n % 10 == 3 else SURNAMES[n % len(SURNAMES)]
    return surname + GIVEN[(n // 97) % len(GIVEN)] + GIVEN[(n // 7919) % len(GIVEN)]


def seed_grams(url: str) -> tuple[float, int]:
    """The grams of every seeded member by COPY (the scope index built afterwards, as
    registration_scale does for the members' indexes): what migration 0008 writes row by row."""
    from sqlalchemy import text

    from services.registration.domain import name_grams
    from services.registration.models import Base
    from shared.db import service_database

    database = service_database(url, "registration")
    started = time.perf_counter()
    rows = 0
    # The members are read on a second connection: one connection cannot fetch during a COPY.
    with (
        database.engine.raw_connection() as raw,
        raw.driver_connection.cursor() as cursor,  # type: ignore[union-attr]
        database.engine.raw_connection() as reading,
    ):
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(f"DROP INDEX IF EXISTS {GRAM_INDEX}")
        with reading.driver_connection.cursor(name="members") as members:  # type: ignore[union-attr]
            members.itersize = 20_000
            members.execute("SELECT id, name, branch_path FROM members")
            with cursor.copy("COPY member_name_grams (gram, member_id, branch_path) FROM STDIN") as copy:
                batch: list[str] = []
                for member_id, name, path in members:
                    for gram in name_grams(name):
                        batch.append(f"{gram}\t{member_id}\t{path}\n")
                    if len(batch) >= 20_000:
                        rows += len(batch)
                        copy.write("".join(batch))
                        batch.clear()
                rows += len(batch)
                copy.write("".join(batch))
        raw.commit()
    with database.engine.begin() as connection:
        for index in Base.metadata.tables["member_name_grams"].indexes:
            index.create(connection, checkfirst=True)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE member_name_grams"))
    database.dispose()
    return time.perf_counter() - started, rows


def search_sql(grams: int, path: str | None) -> str:
    """The statement the API runs for `?q=` on PostgreSQL (queries._name_matches), as text: the
    lead gram (within a path prefix, or nationwide) and the other pairs, in id order, each
    candidate's member row read by its key and tested against the whole text, a page's worth."""
    sql = (
        "SELECT m.* FROM member_name_grams g JOIN LATERAL (SELECT * FROM members v"
        " WHERE v.id = g.member_id AND v.name LIKE :q ESCAPE '\\' LIMIT 1) m ON true WHERE g.gram = :g0"
    )
    if path is not None:
        # In the statement's text, as the API puts it (queries._in_statement).
        sql += f" AND g.branch_path LIKE '{path}%'"
    for number in range(1, grams):
        sql += (
            f" AND EXISTS (SELECT 1 FROM member_name_grams o{number}"
            f" WHERE o{number}.gram = :g{number} AND o{number}.member_id = g.member_id)"
        )
    return sql + " ORDER BY g.member_id LIMIT 51"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()

    from sqlalchemy import bindparam, text, update

    from services.registration.app import create_app
    from services.registration.domain import id_number_hash, search_grams
    from services.registration.models import Member
    from services.registration.queries import _like_pattern
    from services.registration.settings import RegistrationSettings
    from shared.auth import issue_token
    from shared.db import service_database, table_of
    from shared.settings import DEV_JWT_SECRET

    # One line per request would drown the table.
    logging.getLogger("nuanliu.access").setLevel(logging.WARNING)
    registration_scale.SECONDARY_INDEXES["members"] += ["ix_members_id_number_hash"]
    with fresh_postgres() as url:
        seconds, _ = registration_scale.seed(url, args.orgs, args.members, name_of)
        gram_seconds, gram_rows = seed_grams(url)
        database = service_database(url, "registration")
        settings = RegistrationSettings.from_env().with_overrides(database_url=url)
        # The keyed hashes of the members the ID search looks for (COPY left the column empty).
        rng = random.Random(13)
        with database.reader() as session:
            sampled = session.execute(
                text("SELECT id, id_number FROM members TABLESAMPLE SYSTEM (1) LIMIT :n"), {"n": args.samples}
            ).all()
            sizes = session.execute(
                text(
                    "SELECT pg_total_relation_size('members'), pg_total_relation_size('member_name_grams'),"
                    " (SELECT count(*) FROM member_name_grams WHERE gram = '王')"
                )
            ).one()
        members = table_of(Member)
        with database.engine.begin() as connection:
            assert sampled, "the sample found no members: seed more"
            connection.execute(
                update(members).where(members.c.id == bindparam("key")),
                [
                    {"key": row.id, "id_number_hash": id_number_hash(row.id_number, settings.id_hash_key)}
                    for row in sampled
                ],
            )
        print(
            f"seeded {args.members:,} members and {args.orgs:,} orgs in {seconds:.1f} s;"
            f" {gram_rows:,} name grams in {gram_seconds:.1f} s"
        )
        print(
            f"members {sizes[0] / 2**20:,.0f} MiB, member_name_grams {sizes[1] / 2**20:,.0f} MiB"
            f" (with indexes); members named 王…: {sizes[2]:,}"
        )
        client = create_app(settings).test_client()
        admin = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench", "admin", "CN")}
        townships = PROVINCES * 10 * 9 * 10

        def a_name() -> str:
            return name_of(rng.randrange(args.members))

        def county() -> str:
            return township_path(rng.randrange(townships))[0][:-2]

        def province() -> str:
            return f"P{rng.randrange(PROVINCES):02d}"

        def nation() -> str:
            return "CN"

        scopes = [("a county", county), ("a province", province), ("nationwide", nation)]
        texts = [
            ("1 character (王)", lambda: "王"),
            ("2 characters", lambda: a_name()[1:]),
            ("3 characters", a_name),
        ]
        print(f"{'query':<44} {'API p50':>9} {'API p95':>9} {'SQL p50':>9} {'SQL p95':>9}")
        worst = 0.0

        def report(name: str, api_times: list[float], sql_times: list[float]) -> None:
            nonlocal worst
            api_p95, sql_p95 = percentile(api_times, 0.95), percentile(sql_times, 0.95)
            worst = max(worst, api_p95)
            print(
                f"{name:<44} {percentile(api_times, 0.5):7.1f}ms {api_p95:7.1f}ms"
                f" {percentile(sql_times, 0.5):7.1f}ms {sql_p95:7.1f}ms"
            )
            emit(f"{name} p95 (lower is better)", api_p95, "ms", "the same SQL, direct", sql_p95)

        # The tables were just built: a pass over every kind first (untimed) reads what a
        # running server would have cached, and fills the app's statement caches.
        for _scope_name, make_org in scopes:
            for _text_name, make_text in texts:
                for _ in range(max(1, args.samples // 5)):
                    client.get(f"/api/v1/members?org={make_org()}&q={make_text()}&limit=50", headers=admin)
        for scope_name, make_org in scopes:
            for text_name, make_text in texts:
                api_times: list[float] = []
                sql_times: list[float] = []
                for sample in range(args.samples):
                    org, q = make_org(), make_text()
                    org_path = None
                    if org != "CN":
                        with database.reader() as session:
                            org_path = session.execute(
                                text("SELECT path FROM orgs WHERE code = :c"), {"c": org}
                            ).scalar()
                    grams = search_grams(q)
                    sql = text(search_sql(len(grams), org_path))
                    values = {"q": _like_pattern(q)} | {
                        f"g{i}": g for i, g in enumerate(grams)
                    }
                    # The two in turn first: the second would find the pages the first read cached.
                    for api_turn in (True, False) if sample % 2 else (False, True):
                        started = time.perf_counter()
                        if api_turn:
                            response = client.get(f"/api/v1/members?org={org}&q={q}&limit=50", headers=admin)
                            api_times.append(time.perf_counter() - started)
                            assert response.status_code == 200, response.get_json()
                        else:
                            with database.reader() as session:
                                found = session.execute(sql, values).all()
                            sql_times.append(time.perf_counter() - started)
                    assert len(found) == len(response.get_json()["items"]) + (
                        1 if response.get_json()["next_cursor"] else 0
                    ), (org, q)
                report(f"name, {text_name}, {scope_name}", api_times, sql_times)

        api_times, sql_times = [], []
        exact = "SELECT * FROM members WHERE id_number_hash = :h ORDER BY id LIMIT 51"
        for sample, row in enumerate(sampled):
            for api_turn in (True, False) if sample % 2 else (False, True):
                started = time.perf_counter()
                if api_turn:
                    response = client.get(f"/api/v1/members?id_number={row.id_number}", headers=admin)
                    api_times.append(time.perf_counter() - started)
                    assert response.status_code == 200 and len(response.get_json()["items"]) == 1
                else:
                    with database.reader() as session:
                        session.execute(
                            text(exact), {"h": id_number_hash(row.id_number, settings.id_hash_key)}
                        ).all()
                    sql_times.append(time.perf_counter() - started)
        report("ID number, exact (keyed hash)", api_times, sql_times)
        print(f"worst API p95: {worst:.1f} ms (target ≤ 50 ms) at {args.members:,} members")
        database.dispose()


if __name__ == "__main__":
    main()
