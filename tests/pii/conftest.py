from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz import proof_stack
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def proof(request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield proof_stack.acquire(request)
    proof_stack.release()
