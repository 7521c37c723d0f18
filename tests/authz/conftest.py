from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.authz.world import World, build_world
from tests.fuzz import proof_stack
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def proof(request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield proof_stack.acquire(request)
    proof_stack.release()


@pytest.fixture(scope="session")
def world(proof: Stack) -> World:
    return build_world({s: proof.url(s) for s in ("registration", "transfer", "tasks", "notify")})
