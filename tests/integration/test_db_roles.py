"""A service connects as its own PostgreSQL role, which finds its schema by `ALTER ROLE … SET
search_path`: no libpq `options` at connect (PgBouncer refuses it), no reach into another
service's schema. The roles come from `nuanliu db roles`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from deploy import cli
from deploy.processes import service_module, settings_of
from shared.db import database_of, drop_database, migrate
from shared.settings import SettingsError, normalise_postgres_url
from tests.support.infra import TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")


@pytest.fixture
def scratch_url() -> Iterator[str]:
    admin = normalise_postgres_url(TEST_DATABASE_URL or "")
    name = f"nuanliu_roles_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    drop_database(engine, name)
    engine.dispose()


def test_services_connect_as_their_own_roles_without_a_startup_option(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Registration was migrated by the administrator before roles existed (the shared URL).
    registration = service_module("registration", "app")
    admin_db = database_of(settings_of("registration", {"DATABASE_URL": scratch_url}), "registration")
    migrate(admin_db, registration.MIGRATIONS)
    admin_db.dispose()

    monkeypatch.setenv("DATABASE_URL", scratch_url)
    cli.main(["db", "roles"])
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    assert printed["NUANLIU_DB_SEARCH_PATH"] == "role"
    assert "nuanliu_notify@" in printed["NOTIFY_DATABASE_URL"]
    cli.main(["db", "roles"])  # a second run changes nothing and does not fail

    env = {**printed}
    for service in ("registration", "notify"):
        settings = settings_of(service, env)
        assert settings.db_search_path == "role"
        database = database_of(settings, service)
        migrate(database, service_module(service, "app").MIGRATIONS)  # as the role, in its schema
        with database.engine.connect() as connection:
            user, schema, source = connection.execute(
                text(
                    "SELECT current_user, current_schema(), source FROM pg_settings WHERE name = 'search_path'"
                )
            ).one()
            assert (user, schema, source) == (f"nuanliu_{service}", service, "user")
            assert connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar() == 0
            owners = set(
                connection.execute(
                    text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :s"), {"s": service}
                ).scalars()
            )
            assert owners == {f"nuanliu_{service}"}
        database.dispose()

    notify = database_of(settings_of("notify", env), "notify")
    with notify.engine.connect() as connection, pytest.raises(ProgrammingError, match="permission denied"):
        connection.execute(text("SELECT count(*) FROM registration.members"))
    notify.dispose()


def test_a_role_without_its_search_path_is_refused_before_migrating(scratch_url: str) -> None:
    # The administrator's own role has no search path to the schema: "role" mode must not
    # migrate into public.
    settings = settings_of("notify", {"NOTIFY_DATABASE_URL": scratch_url, "NUANLIU_DB_SEARCH_PATH": "role"})
    database = database_of(settings, "notify")
    with pytest.raises(RuntimeError, match="search_path"):
        migrate(database, service_module("notify", "app").MIGRATIONS)
    database.dispose()


def test_an_unknown_search_path_mode_is_refused() -> None:
    with pytest.raises(SettingsError, match="NUANLIU_DB_SEARCH_PATH"):
        settings_of("notify", {"NUANLIU_DB_SEARCH_PATH": "pgbouncer"})
