"""The end-to-end stack: real gunicorn APIs, relays and consumers on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.infra import AMQP_URL
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


@pytest.fixture(scope="session")
def slice_stack(stack_env, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("slice-logs"), stack_env)
    stack.start("registration-api", "notify-api", "registration-relay", "notify-consumer")
    try:
        stack.wait_ready("registration", "notify")
        yield stack
    finally:
        stack.stop()
