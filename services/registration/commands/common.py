"""What several registration use cases share: loading with the right error, and event bodies."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import object_session

from services.registration import domain
from services.registration.models import Member, Org
from shared.auth import Principal
from shared.errors import Forbidden, InvalidInput, NotFound


class _Orgs(Protocol):
    def get(self, code: str) -> Org | None: ...


class _Members(Protocol):
    def get(self, member_id: str) -> Member | None: ...


def branch_or_422(orgs: _Orgs, code: str, field: str, location: str = "json") -> Org:
    return require_branch(orgs.get(code), code, field, location)


def require_branch(org: Org | None, code: str, field: str, location: str = "json") -> Org:
    """`org` (found by `code`) if it is a branch, else the 422 naming `field`."""
    if org is None or org.level != "branch":
        raise InvalidInput(f"{code} is not an existing branch", field=field, location=location)
    return org


def member_or_404(members: _Members, member_id: str) -> Member:
    member = members.get(member_id)
    if member is None:
        raise NotFound(f"member {member_id} does not exist")
    return member


def member_for(members: _Members, actor: Principal, member_id: str, what: str) -> Member:
    """The member if `actor` may `what` them (the member themself, or an org role over their
    branch). A missing member is a 404 only to admin and services (who act on every member);
    to anyone else it is the same 403, word for word, as a member out of scope: no oracle."""
    member = members.get(member_id)
    if member is None and (actor.is_admin or actor.is_service):
        raise NotFound(f"member {member_id} does not exist")
    if member is None or not domain.may_read_member(actor, member.id, member.branch_path):
        raise Forbidden(f"you may not {what} this member")
    return member


def member_event(member: Member | domain.MemberContact, branch_path: str | None = None) -> dict[str, Any]:
    """The fields every member event starts with (MemberEvent in the contract)."""
    return {
        "member_id": member.id,
        "member_name": member.name,
        "branch_code": member.branch_code,
        "branch_path": [code for code in (branch_path or member.branch_path).split("/") if code],
    }


def bump_version(member: Member) -> None:
    """Count a change of the record: `version = version + 1` in SQL, not the value read plus one,
    so a change written while a PATCH commits can never leave that PATCH's ETag current (a stale
    ETag would then overwrite it). In memory (unit tests) the count is plain."""
    if object_session(member) is None:
        member.version += 1
    else:
        member.version = Member.version + 1
