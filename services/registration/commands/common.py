"""What several registration use cases share: loading with the right error, and event bodies."""

from __future__ import annotations

from typing import Any, Protocol

from services.registration.models import Member, Org
from shared.errors import InvalidInput, NotFound


class _Orgs(Protocol):
    def get(self, code: str) -> Org | None: ...


class _Members(Protocol):
    def get(self, member_id: str) -> Member | None: ...


def branch_or_422(orgs: _Orgs, code: str, field: str, location: str = "json") -> Org:
    org = orgs.get(code)
    if org is None or org.level != "branch":
        raise InvalidInput(f"{code} is not an existing branch", field=field, location=location)
    return org


def member_or_404(members: _Members, member_id: str) -> Member:
    member = members.get(member_id)
    if member is None:
        raise NotFound(f"member {member_id} does not exist")
    return member


def member_event(member: Member, branch_path: str | None = None) -> dict[str, Any]:
    """The fields every member event starts with (MemberEvent in the contract)."""
    return {
        "member_id": member.id,
        "member_name": member.name,
        "branch_code": member.branch_code,
        "branch_path": [code for code in (branch_path or member.branch_path).split("/") if code],
    }
