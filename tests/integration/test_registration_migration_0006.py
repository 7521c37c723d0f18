"""Migration 0006 brings existing rows to the rules of open mobility: of a member's outflows and
inflows only the latest may stay open, and not even that one once a transfer moved the member
(or the member's inflow branch is another); the open inflow's branch path is filled in. Then
down and up again."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import text

from services.registration.models import Base
from shared.db import Database, downgrade, migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "registration" / "migrations"


def old_rows(database: Database) -> None:
    """Rows as the code before 0006 wrote them (ULID-like ids: later is larger)."""
    statements = [
        "INSERT INTO orgs (code, name, level, parent_code, path, region, created_at) VALUES "
        "('MG-K', 'county', 'county', 'CN', '/CN/MG-K/', NULL, CURRENT_TIMESTAMP), "
        "('MG-B', 'home', 'branch', 'MG-K', '/CN/MG-K/MG-B/', NULL, CURRENT_TIMESTAMP), "
        "('MG-I', 'inflow', 'branch', 'MG-K', '/CN/MG-K/MG-I/', NULL, CURRENT_TIMESTAMP)",
    ]
    members = {
        # id: (mobile, inflow_branch_code)
        "M1": (True, "MG-I"),  # away, arrived at MG-I, two outflows and two inflows
        "M2": (False, None),  # moved by a transfer after going away
    }
    for member, (mobile, inflow) in members.items():
        statements.append(
            "INSERT INTO members (id, name, gender, birth_date, id_number, phone, status, branch_code, "
            "branch_path, joined_on, dues_paid_through, mobile, lost_contact, created_at, version, "
            f"inflow_branch_code) VALUES ('{member}', '李明', 'male', '1990-05-17', "
            f"'{secrets.token_hex(9)}', '13800000000', 'full', 'MG-B', '/CN/MG-K/MG-B/', '2015-07-01', "
            f"'2026-10', {'true' if mobile else 'false'}, false, CURRENT_TIMESTAMP, 3, "
            f"{repr(inflow) if inflow else 'NULL'})"
        )
        for number in (1, 2):
            statements.append(
                "INSERT INTO outflows (id, member_id, branch_code, county_code, activity_card_no, "
                "destination_region, destination_address, occupation, departed_on, reason, contact_phone, "
                f"recorded_by, created_at) VALUES ('{member}-O{number}', '{member}', 'MG-B', 'MG-K', "
                f"'K-{member}-{number}', '3306', 'addr', 'job', '2026-0{number}-01', 'work', "
                "'13800000000', 'admin', CURRENT_TIMESTAMP)"
            )
            statements.append(
                "INSERT INTO inflows (id, member_id, branch_code, home_branch_code, arrived_on, "
                f"current_address, occupation, recorded_by, created_at) VALUES ('{member}-I{number}', "
                f"'{member}', 'MG-I', 'MG-B', '2026-0{number}-05', 'addr', 'job', 'admin', CURRENT_TIMESTAMP)"
            )
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def column(database: Database, sql: str) -> list:
    with database.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_existing_rows_get_one_open_outflow_and_inflow_at_most(test_databases, tmp_path):
    if test_databases.is_postgres:
        database = Database(test_databases.url("registration"), schema=f"mig0006_{secrets.token_hex(3)}")
    else:
        database = Database(f"sqlite:///{tmp_path / 'migration.db'}")
    try:
        migrate(database, MIGRATIONS, "0005")
        old_rows(database)
        migrate(database, MIGRATIONS, "0006")
        assert column(database, "SELECT id, closed_reason FROM outflows ORDER BY id") == [
            ("M1-O1", "superseded"),
            ("M1-O2", None),
            ("M2-O1", "superseded"),
            ("M2-O2", "moved"),
        ]
        ended = column(database, "SELECT id, ended_on IS NULL FROM inflows ORDER BY id")
        assert [(row[0], bool(row[1])) for row in ended] == [
            ("M1-I1", False),
            ("M1-I2", True),
            ("M2-I1", False),
            ("M2-I2", False),
        ]
        assert column(database, "SELECT id, inflow_branch_path FROM members ORDER BY id") == [
            ("M1", "/CN/MG-K/MG-I/"),
            ("M2", None),
        ]
        # The rule now holds in the database: a second open outflow is refused.
        try:
            with database.engine.begin() as connection:
                connection.execute(text("UPDATE outflows SET closed_on = NULL WHERE id = 'M1-O1'"))
            raise AssertionError("two open outflows of one member were accepted")
        except Exception as error:  # noqa: BLE001 (IntegrityError on both databases)
            assert "unique" in str(error).lower() or "UNIQUE" in str(error)
        _down_and_up(database)
    finally:
        if database.schema:
            with database.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{database.schema}" CASCADE'))
        database.dispose()


def _down_and_up(database: Database) -> None:
    downgrade(database, MIGRATIONS, "0005")
    assert (
        "closed_on" not in {c[1] for c in column(database, "PRAGMA table_info(outflows)")}
        if database.is_sqlite
        else True
    )
    migrate(database, MIGRATIONS, "head")
    assert set(Base.metadata.tables) <= set(_tables(database))


def _tables(database: Database) -> list[str]:
    from sqlalchemy import inspect

    return inspect(database.engine).get_table_names(schema=database.schema)
