"""Fault scenarios run on real processes: each gets its own stack and broker prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.harness import CONSUMERS, SCENARIO_NUMBERS, FaultStack
from tests.support.infra import AMQP_URL, delete_topology


@pytest.fixture(scope="session")
def faults_env(test_databases, broker_prefix, migrated, tmp_path_factory) -> dict[str, str]:
    for service in ("registration", "transfer", "tasks", "notify"):
        migrated(service)
    return {
        **test_databases.env(),
        "AMQP_URL": AMQP_URL,
        "NUANLIU_VAR_DIR": str(tmp_path_factory.mktemp("faults-var")),
        "NUANLIU_WEB_WORKERS": "2",
        "NUANLIU_RELAY_POLL_INTERVAL": "0.05",
    }


@pytest.fixture
def fault_stack(
    faults_env: dict[str, str], broker_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., FaultStack]]:
    """Makes stacks with their own broker prefix; stops them and removes their queues afterwards."""
    made: list[FaultStack] = []

    def make(**extra_env: str) -> FaultStack:
        prefix = f"{broker_prefix}faults{next(SCENARIO_NUMBERS)}."
        stack = FaultStack(
            tmp_path_factory.mktemp("faults-logs"),
            {**faults_env, "NUANLIU_BROKER_PREFIX": prefix, **extra_env},
        )
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()
        delete_topology(stack.prefix, CONSUMERS)
