"""Outbound clients of the tasks service: what it asks registration besides the org tree
(the org tree itself is shared.orgs.OrgDirectory)."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

from shared.errors import Unavailable
from shared.orgs import OrgDirectory, ServiceClient, credentials_of
from shared.settings import Settings


class MemberLookup(Protocol):
    def branch_code_of(self, member_id: str) -> str | None: ...


class RegistrationMembers:
    """Members as registration knows them."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def branch_code_of(self, member_id: str) -> str | None:
        """The member's branch; None when registration has no such member."""
        # Masked: an assignment needs the member's branch, never their ID or phone.
        response = self.client.request(
            "GET", f"/api/v1/members/{quote(member_id, safe='')}", params={"masked": "true"}
        )
        # 422: registration refused the id's format, so no member has it.
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for member {member_id}")
        return str(response.json()["branch_code"])


def registration_client(settings: Settings) -> ServiceClient:
    return ServiceClient(settings.url_of("registration"), credentials_of(settings, "tasks"))


__all__ = ["MemberLookup", "OrgDirectory", "RegistrationMembers", "registration_client"]
