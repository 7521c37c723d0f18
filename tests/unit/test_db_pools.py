"""Pools and the search path come from settings (no connection is made here)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import QueuePool, event

from deploy.processes import settings_of
from shared.db import database_of

URL = "postgresql://someone@127.0.0.1:5432/nuanliu"


class Stop(Exception):
    pass


def connect_args(service: str, env: dict[str, str]) -> tuple[QueuePool, dict[str, Any]]:
    """The engine's pool, and the parameters its first connection would be opened with."""
    database = database_of(settings_of(service, env), service)
    pool = database.engine.pool
    assert isinstance(pool, QueuePool)
    seen: dict[str, Any] = {}

    @event.listens_for(database.engine, "do_connect")
    def capture(_dialect: object, _record: object, _args: object, params: dict[str, Any]) -> None:
        seen.update(params)
        raise Stop  # no database needed: what would be sent is all this test reads

    with pytest.raises(Stop):
        database.engine.connect()
    return pool, seen


def test_the_pool_is_sized_by_settings() -> None:
    pool, _ = connect_args(
        "notify", {"DATABASE_URL": URL, "NUANLIU_DB_POOL_SIZE": "3", "NUANLIU_DB_MAX_OVERFLOW": "2"}
    )
    assert (pool.size(), pool._max_overflow) == (3, 2)  # noqa: SLF001 - no public reader of the overflow
    tasks_pool, _ = connect_args("tasks", {"DATABASE_URL": URL})
    assert tasks_pool.size() == 10, "tasks keeps its larger default pool"


def test_the_shared_url_sends_the_search_path_and_a_role_url_does_not() -> None:
    _, shared = connect_args("notify", {"DATABASE_URL": URL})
    assert shared["options"] == "-csearch_path=notify"
    _, own_role = connect_args("notify", {"NOTIFY_DATABASE_URL": URL, "NUANLIU_DB_SEARCH_PATH": "role"})
    assert "options" not in own_role
