"""The end-to-end stack: real gunicorn APIs, relays and consumers on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.infra import AMQP_URL, TestDatabases
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def stack_env(test_databases, broker_prefix, migrated, tmp_path_factory) -> dict[str, str]:
    for service in ("registration", "transfer", "tasks", "notify"):
        migrated(service)
    return {
        **test_databases.env(),
        "AMQP_URL": AMQP_URL,
        # Its own prefix: the stack's consumers must not share queues with in-process tests.
        "NUANLIU_BROKER_PREFIX": f"{broker_prefix}e2e.",
        "NUANLIU_VAR_DIR": str(tmp_path_factory.mktemp("stack-var")),
        "NUANLIU_WEB_WORKERS": "2",
        "NUANLIU_RELAY_POLL_INTERVAL": "0.05",
    }


# Module scope: its registration relay drains the shared outbox table, so it must not outlive
# the slice's tests (the integration tests' own relays expect to find their rows unsent).
@pytest.fixture(scope="module")
def slice_stack(stack_env, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("slice-logs"), stack_env)
    stack.start("registration-api", "notify-api", "registration-relay", "notify-consumer")
    try:
        stack.wait_ready("registration", "notify")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def full_stack(stack_env, tmp_path_factory) -> Iterator[Stack]:
    """Every process of deploy/Procfile, including its own Temporal dev server on free ports.

    It has databases of its own: its dispatcher and sweeps run all session long and must not take
    deliveries or rows that another module's stack is testing (a shared notify database once let
    this dispatcher try another test's e-mail on the wrong SMTP port first)."""
    from tests.support.stack import own_temporal_env, start_ready

    databases = TestDatabases(tmp_path_factory.mktemp("full-db"))
    var_dir, log_dir = tmp_path_factory.mktemp("full-var"), tmp_path_factory.mktemp("full-logs")

    def make() -> Stack:
        env = {
            **stack_env,
            **databases.env(),
            **own_temporal_env(),
            # Its own prefix again: the slice stack may be running beside it in the same session.
            "NUANLIU_BROKER_PREFIX": stack_env["NUANLIU_BROKER_PREFIX"] + "full.",
            "NUANLIU_VAR_DIR": str(var_dir),
        }
        return Stack(log_dir, env)

    stack: Stack | None = None
    try:
        first = make()
        first.migrate()
        services = ("registration", "transfer", "tasks", "notify")
        stack = start_ready(make, tuple(first.commands), services, timeout=90)
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        databases.drop()
