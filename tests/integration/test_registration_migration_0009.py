"""Migration 0009 rebuilds the subtree index on PostgreSQL with the columns the dashboards count
INCLUDEd, so a subtree's breakdown can be answered from the index alone; it goes down and up
again, and on SQLite it changes nothing."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text

from services.registration import stats_queries
from shared.auth import Principal
from shared.db import Database, downgrade, migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "registration" / "migrations"
INDEX = "ix_members_branch_path_id"
COUNTED = ("mobile", "standing", "lost_contact", "dues_paid_through", "destination_region")
MEMBERS = 400


def some_members(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO orgs (code, name, level, parent_code, path, region, created_at) VALUES "
                "('MH-K', 'county', 'county', 'CN', '/CN/MH-K/', NULL, CURRENT_TIMESTAMP), "
                "('MH-B', 'branch', 'branch', 'MH-K', '/CN/MH-K/MH-B/', NULL, CURRENT_TIMESTAMP)"
            )
        )
        for n in range(MEMBERS):
            connection.execute(
                text(
                    "INSERT INTO members (id, name, gender, birth_date, id_number, phone, status, "
                    "branch_code, branch_path, joined_on, dues_paid_through, mobile, lost_contact, "
                    "created_at, version) VALUES (:id, '某某', 'male', '1990-05-17', :number, "
                    "'13800000000', 'full', 'MH-B', '/CN/MH-K/MH-B/', '2015-07-01', '2026-10', "
                    ":mobile, false, CURRENT_TIMESTAMP, 1)"
                ),
                {"id": f"MH{n:06d}", "number": secrets.token_hex(9), "mobile": n % 3 == 0},
            )


def included_columns(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        (definition,) = connection.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name AND schemaname = :schema"),
            {"name": INDEX, "schema": database.schema},
        ).one()
    if " INCLUDE (" not in definition:
        return []
    return [column.strip() for column in definition.split(" INCLUDE (", 1)[1].rstrip(")").split(",")]


def breakdown_plans(database: Database) -> list[str]:
    """The plans of the breakdown's statements, with scans other than by index turned off: an
    index-only scan is then chosen exactly when the index holds every column a count reads."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        stats_queries.breakdown(database, Principal("admin", "admin", "CN"), "MH-K", "2026-12")
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    plans = []
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_bitmapscan = off")
        for statement, parameters in statements:
            if "FROM members" in statement and "GROUP BY" in statement:
                lines = connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
                plans.append("\n".join(lines))
    return plans


def test_the_subtree_index_holds_what_the_dashboards_count(test_databases, tmp_path):
    if test_databases.is_postgres:
        database = Database(test_databases.url("registration"), schema=f"mig0009_{secrets.token_hex(3)}")
    else:
        database = Database(f"sqlite:///{tmp_path / 'migration.db'}")
    try:
        migrate(database, MIGRATIONS, "0008")
        some_members(database)
        if not test_databases.is_postgres:
            before = inspect(database.engine).get_indexes("members")
            migrate(database, MIGRATIONS, "head")
            assert inspect(database.engine).get_indexes("members") == before
            downgrade(database, MIGRATIONS, "0008")
            assert inspect(database.engine).get_indexes("members") == before
            return
        assert included_columns(database) == []
        migrate(database, MIGRATIONS, "head")
        assert included_columns(database) == list(COUNTED)
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'VACUUM ANALYZE "{database.schema}".members')
        plans = breakdown_plans(database)
        assert len(plans) == 2, plans  # the plain figures, then the reach of the mobile ones
        assert f"Index Only Scan using {INDEX}" in plans[0], plans[0]

        downgrade(database, MIGRATIONS, "0008")
        assert included_columns(database) == []
        assert f"Index Only Scan using {INDEX}" not in breakdown_plans(database)[0]
        migrate(database, MIGRATIONS, "head")
        assert included_columns(database) == list(COUNTED)
    finally:
        if database.schema:
            with database.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
        database.dispose()
