"""An id that came from a request goes into another service's URL encoded, as one path segment:
a `../` id never reaches another endpoint (security review, finding 7)."""

from __future__ import annotations

from typing import Any

import pytest

from services.tasks.clients import RegistrationMembers
from services.transfer.clients import MoveRejected, Registration
from shared.errors import InvalidInput
from shared.orgs import OrgDirectory

CRAFTED = "../ledger?org=CN&format=json#"
ENCODED = "..%2Fledger%3Forg%3DCN%26format%3Djson%23"


class Recorder:
    """A ServiceClient that records the paths it is asked for and answers `status`."""

    def __init__(self, status: int = 404) -> None:
        self.status = status
        self.paths: list[str] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.paths.append(path)
        return type("Answer", (), {"status_code": self.status, "text": ""})()


def test_tasks_asks_registration_for_a_member_by_its_encoded_id() -> None:
    recorder = Recorder()
    assert RegistrationMembers(recorder).branch_code_of(CRAFTED) is None  # type: ignore[arg-type]
    assert recorder.paths == [f"/api/v1/members/{ENCODED}"]


def test_transfer_asks_and_moves_a_member_by_its_encoded_id() -> None:
    recorder = Recorder(status=422)
    registration = Registration(recorder)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        registration.member(CRAFTED)
    assert refused.value.field == "member_id"
    with pytest.raises(MoveRejected):
        registration.move_relationship(CRAFTED, "BR-1", "t-1")
    assert recorder.paths == [f"/api/v1/members/{ENCODED}", f"/api/v1/members/{ENCODED}/relationship"]


def test_the_org_directory_asks_for_an_encoded_code() -> None:
    recorder = Recorder(status=422)
    assert OrgDirectory(recorder).get("../members") is None  # type: ignore[arg-type]
    assert recorder.paths == ["/api/v1/orgs/..%2Fmembers"]
