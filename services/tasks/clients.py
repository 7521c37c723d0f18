"""Outbound clients of the tasks service: what it asks registration besides the org tree
(the org tree itself is shared.orgs.OrgDirectory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from shared.errors import Unavailable
from shared.orgs import OrgDirectory, ServiceClient, credentials_of
from shared.settings import Settings


@dataclass(frozen=True)
class MemberRef:
    """What tasks needs of a member: their branch, and their name for the notices."""

    branch_code: str
    name: str | None


class MemberLookup(Protocol):
    def member_of(self, member_id: str) -> MemberRef | None: ...


class RegistrationMembers:
    """Members as registration knows them."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def branch_code_of(self, member_id: str) -> str | None:
        """The member's branch; None when registration has no such member."""
        member = self.member_of(member_id)
        return member.branch_code if member is not None else None

    def member_of(self, member_id: str) -> MemberRef | None:
        """The member's branch and name; None when registration has no such member."""
        # Masked: an assignment needs the member's branch, never their ID or phone.
        response = self.client.request(
            "GET", f"/api/v1/members/{quote(member_id, safe='')}", params={"masked": "true"}
        )
        # 422: registration refused the id's format, so no member has it.
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for member {member_id}")
        body = response.json()
        name = body.get("name")
        return MemberRef(str(body["branch_code"]), name if isinstance(name, str) else None)


def registration_client(settings: Settings) -> ServiceClient:
    return ServiceClient(settings.url_of("registration"), credentials_of(settings, "tasks"))


__all__ = ["MemberLookup", "MemberRef", "OrgDirectory", "RegistrationMembers", "registration_client"]
