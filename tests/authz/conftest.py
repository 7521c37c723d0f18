from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.authz.world import World, build_world
from tests.fuzz import proof_stack
from tests.support.stack import Stack
from tests.support.tokens import rs256_bearer


@pytest.fixture(scope="session")
def proof(request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield proof_stack.acquire(request)
    proof_stack.release()


@pytest.fixture(scope="session")
def world(proof: Stack) -> World:
    # The actors present RS256 tokens made with the proof stack's own token-service keys.
    keys = str(Path(proof.env["NUANLIU_VAR_DIR"]) / "keys")
    urls = {s: proof.url(s) for s in ("registration", "transfer", "tasks", "notify")}
    return build_world(urls, sign=partial(rs256_bearer, keys))
