"""Migration 0008 writes the name search's grams of the members already registered (each
character and character pair of the name, with the member's branch path), drops the name
indexes of 0007 it replaces, and goes down to 0007 and up again."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import inspect, text

from services.registration.domain import name_grams
from shared.db import Database, downgrade, migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "registration" / "migrations"
MEMBERS = {
    # id: (name, branch)
    "M1": ("王小明", "MG-B"),
    "M2": ("哈哈哈", "MG-B"),
    "M3": ("Li Na", "MG-C"),
}
PATHS = {"MG-B": "/CN/MG-K/MG-B/", "MG-C": "/CN/MG-K/MG-C/"}


def old_rows(database: Database) -> None:
    """Orgs and members as the code before 0008 wrote them."""
    statements = [
        "INSERT INTO orgs (code, name, level, parent_code, path, region, created_at) VALUES "
        "('MG-K', 'county', 'county', 'CN', '/CN/MG-K/', NULL, CURRENT_TIMESTAMP), "
        "('MG-B', 'one', 'branch', 'MG-K', '/CN/MG-K/MG-B/', NULL, CURRENT_TIMESTAMP), "
        "('MG-C', 'two', 'branch', 'MG-K', '/CN/MG-K/MG-C/', NULL, CURRENT_TIMESTAMP)",
    ]
    for member, (name, branch) in MEMBERS.items():
        statements.append(
            "INSERT INTO members (id, name, gender, birth_date, id_number, phone, status, branch_code, "
            "branch_path, joined_on, dues_paid_through, mobile, lost_contact, created_at, version) VALUES "
            f"('{member}', '{name}', 'male', '1990-05-17', '{secrets.token_hex(9)}', '13800000000', 'full', "
            f"'{branch}', '{PATHS[branch]}', '2015-07-01', '2026-10', false, false, CURRENT_TIMESTAMP, 1)"
        )
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def rows(database: Database, sql: str) -> set[tuple]:
    with database.engine.connect() as connection:
        return {tuple(row) for row in connection.execute(text(sql))}


def member_indexes(database: Database) -> set[str]:
    return {
        index["name"] for index in inspect(database.engine).get_indexes("members", schema=database.schema)
    }


def trigram_index(database: Database) -> set[tuple]:
    return rows(
        database,
        "SELECT indexname FROM pg_indexes WHERE indexname = 'ix_members_name_trgm'"
        f" AND schemaname = '{database.schema}'",
    )


def test_existing_members_get_their_grams_and_the_old_name_indexes_go(test_databases, tmp_path):
    if test_databases.is_postgres:
        database = Database(test_databases.url("registration"), schema=f"mig0008_{secrets.token_hex(3)}")
    else:
        database = Database(f"sqlite:///{tmp_path / 'migration.db'}")
    expected = {
        (gram, member, PATHS[branch])
        for member, (name, branch) in MEMBERS.items()
        for gram in name_grams(name)
    }
    try:
        migrate(database, MIGRATIONS, "0007")
        old_rows(database)
        assert "ix_members_branch_path_name" in member_indexes(database)
        if test_databases.is_postgres:
            # The test server can create pg_trgm, so 0007 made its index.
            assert trigram_index(database) == {("ix_members_name_trgm",)}
        migrate(database, MIGRATIONS, "0008")
        assert rows(database, "SELECT gram, member_id, branch_path FROM member_name_grams") == expected
        assert "ix_members_branch_path_name" not in member_indexes(database)
        if test_databases.is_postgres:
            assert trigram_index(database) == set()

        downgrade(database, MIGRATIONS, "0007")
        assert "member_name_grams" not in inspect(database.engine).get_table_names(schema=database.schema)
        assert "ix_members_branch_path_name" in member_indexes(database)
        if test_databases.is_postgres:
            assert trigram_index(database) == {("ix_members_name_trgm",)}
        migrate(database, MIGRATIONS, "head")
        assert rows(database, "SELECT gram, member_id, branch_path FROM member_name_grams") == expected
    finally:
        if database.schema:
            with database.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
        database.dispose()

