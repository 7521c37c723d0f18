"""Session fixtures: real databases, a real broker (with a per-run prefix), real Temporal."""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.processes import settings_of
from shared.db import Database
from shared.settings import Settings
from tests.support.infra import AMQP_URL, TestDatabases, delete_topology, ensure_rabbitmq

CONSUMERS_USED_IN_TESTS = [
    "notify",
    "transfer",
    "test-consumer",
    "test-poison",
    "test-relay",
    "test-outbox-notify",
]


# Every engine the tests make, so that their idle pooled connections can be let go after each
# module: test modules make apps (each with its own pool) and never dispose of them, and on
# PostgreSQL a session's worth of idle pools passed the server's 100 connections.
_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()
_make_database = Database.__init__


def _tracked(self: Database, *args: object, **kwargs: object) -> None:
    _make_database(self, *args, **kwargs)  # type: ignore[arg-type]
    _DATABASES.add(self)


Database.__init__ = _tracked  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="module")
def _release_idle_connections() -> Iterator[None]:
    yield
    # An engine stays usable after dispose(): it opens connections again when next asked.
    for database in list(_DATABASES):
        database.engine.dispose()


@pytest.fixture(scope="session")
def test_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    databases = TestDatabases(tmp_path_factory.mktemp("db"))
    yield databases
    databases.drop()


@pytest.fixture(scope="session")
def broker_prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ensure_rabbitmq(tmp_path_factory.mktemp("broker"))
    prefix = f"test-{secrets.token_hex(4)}."
    yield prefix
    delete_topology(prefix, CONSUMERS_USED_IN_TESTS)
    for sub in ("e2e.", "e2e.full."):
        delete_topology(f"{prefix}{sub}", CONSUMERS_USED_IN_TESTS)


@pytest.fixture(scope="session")
def settings_for(
    test_databases: TestDatabases, broker_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Settings]:
    var_dir = tmp_path_factory.mktemp("var")

    def make(service: str, **overrides: object) -> Settings:
        base = settings_of(service, {"NUANLIU_VAR_DIR": str(var_dir)})
        return base.with_overrides(
            database_url=test_databases.url(service),
            amqp_url=AMQP_URL,
            broker_prefix=broker_prefix,
            **overrides,
        )

    return make


@pytest.fixture(scope="session")
def migrated(settings_for: Callable[..., Settings]) -> Callable[[str], Database]:
    """A migrated database per service, shared by the session (tests use fresh ids)."""
    from deploy.processes import service_module
    from shared.db import migrate

    cache: dict[str, Database] = {}

    def get(service: str) -> Database:
        if service not in cache:
            app_module = service_module(service, "app")
            database = app_module.open_database(settings_for(service))
            migrate(database, app_module.MIGRATIONS)
            cache[service] = database
        return cache[service]

    yield get  # type: ignore[misc]
    for database in cache.values():
        database.dispose()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
