"""The registration service as the transfer service sees it: the internal contract over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.transfer.domain import RouteSide
from shared.errors import InvalidInput, NotFound, Unavailable
from shared.orgs import OrgDirectory, ServiceClient, ServiceCredentials
from shared.settings import Settings


@dataclass(frozen=True)
class MemberInfo:
    id: str
    name: str
    branch_code: str
    dues_paid_through: str | None


@dataclass(frozen=True)
class Route:
    route: str
    sending: RouteSide
    receiving: RouteSide


class MoveRejected(Exception):
    """Registration refused the move for a reason a retry cannot fix (404, 409, 422)."""


class RelationshipMover(Protocol):
    def move_relationship(self, member_id: str, branch_code: str, transfer_id: str) -> dict[str, Any]: ...


class Registration:
    """Calls registration with the service token; one per process (sessions are per thread)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.orgs = OrgDirectory(client)
        # A route is derived from the two branches' ancestors, which never change once created
        # (as the org paths OrgDirectory caches): a found route is kept for the process's life.
        self._routes: dict[tuple[str, str], Route] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Registration:
        credentials = ServiceCredentials(settings.jwt_secret, "transfer")
        return cls(ServiceClient(settings.url_of("registration"), credentials))

    def member(self, member_id: str) -> MemberInfo:
        # Masked: a transfer needs the member's name, branch and dues, never their ID or phone.
        response = self.client.request("GET", f"/api/v1/members/{member_id}", params={"masked": "true"})
        if response.status_code == 404:
            raise InvalidInput(f"member {member_id} does not exist", field="member_id")
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for a member")
        body = response.json()
        return MemberInfo(body["id"], body["name"], body["branch_code"], body.get("dues_paid_through"))

    def route(self, from_branch: str, to_branch: str, to_field: str = "to_branch_code") -> Route:
        cached = self._routes.get((from_branch, to_branch))
        if cached is not None:
            return cached
        response = self.client.request(
            "GET", "/api/v1/orgs/route", params={"from": from_branch, "to": to_branch}
        )
        if response.status_code == 422:
            errors = (response.json().get("errors") or {}).get("query") or {}
            if "from" in errors:
                raise InvalidInput(f"the member's branch {from_branch} is not a branch", field="member_id")
            raise InvalidInput(f"{to_branch} is not an existing branch", field=to_field)
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for a route")
        body = response.json()
        route = Route(body["route"], RouteSide.from_json(body["from"]), RouteSide.from_json(body["to"]))
        if len(self._routes) > 100_000:
            self._routes.clear()
        self._routes[(from_branch, to_branch)] = route
        return route

    def path(self, code: str) -> str:
        info = self.orgs.get(code)
        if info is None:
            raise NotFound(f"org {code} does not exist")
        return "/" + "/".join(info.path) + "/"

    def move_relationship(self, member_id: str, branch_code: str, transfer_id: str) -> dict[str, Any]:
        response = self.client.request(
            "POST",
            f"/api/v1/members/{member_id}/relationship",
            json={"branch_code": branch_code, "transfer_id": transfer_id},
        )
        if response.status_code == 200:
            return response.json()
        if response.status_code in (404, 409, 422):
            raise MoveRejected(
                f"registration refused the move ({response.status_code}): {response.text[:300]}"
            )
        raise Unavailable(f"registration answered {response.status_code} to the move")
