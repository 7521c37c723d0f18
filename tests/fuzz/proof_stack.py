"""One full stack (every Procfile process, its own Temporal) shared by the fuzz, authorization
and PII suites of a session, so that the three pay its start-up once. Each suite's conftest
calls `acquire`; the last `release` stops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.infra import AMQP_URL, TestDatabases
from tests.support.stack import Stack, own_temporal_env, start_ready

_stack: Stack | None = None
_databases: TestDatabases | None = None
_users = 0
SERVICES = ("registration", "transfer", "tasks", "notify")


def acquire(request: pytest.FixtureRequest) -> Stack:
    global _stack, _databases, _users
    if _stack is None:
        broker_prefix = request.getfixturevalue("broker_prefix")
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        # Databases of its own: its dispatcher and sweeps must not touch what other suites test.
        databases = TestDatabases(factory.mktemp("proof-db"))
        var_dir, log_dir = factory.mktemp("proof-var"), factory.mktemp("proof-logs")

        def make() -> Stack:
            env = {
                **databases.env(),
                **own_temporal_env("proof"),
                "AMQP_URL": AMQP_URL,
                "NUANLIU_BROKER_PREFIX": f"{broker_prefix}proof.",
                "NUANLIU_VAR_DIR": str(var_dir),
                "NUANLIU_WEB_WORKERS": "2",
                "NUANLIU_RELAY_POLL_INTERVAL": "0.05",
            }
            return Stack(log_dir, env)

        try:
            first = make()
            first.migrate()
            stack = start_ready(make, tuple(first.commands), SERVICES, timeout=120)
        except BaseException:
            databases.drop()
            raise
        _stack, _databases = stack, databases
    _users += 1
    return _stack


def release() -> None:
    global _stack, _databases, _users
    _users -= 1
    if _users == 0 and _stack is not None:
        from tests.support.infra import delete_topology

        prefix = _stack.env["NUANLIU_BROKER_PREFIX"]
        _stack.stop()
        _stack = None
        if _databases is not None:
            _databases.drop()
            _databases = None
        delete_topology(prefix, ["notify", "transfer", "tasks", "registration"])


def log_dir() -> Path | None:
    return _stack.log_dir if _stack else None
