"""Who may act on which task: an officer within their subtree, a member on tasks open to their
branch. Shared by the write use cases (commands) and the reads (queries).

The org tree comes from registration (shared.orgs.OrgDirectory); anything with its `get` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from services.tasks import domain
from shared.auth import Principal
from shared.errors import Forbidden, InvalidInput
from shared.orgs import OrgInfo

if TYPE_CHECKING:
    from services.tasks.repositories import ClaimRepository, EvaluationRepository, LeadRepository

OFFICER_ROLES = domain.OFFICER_ROLES


class OrgLookup(Protocol):
    """The org tree, as registration answers it."""

    def get(self, code: str) -> OrgInfo | None: ...


class Placed(Protocol):
    """Where a task sits: a task row, or what the claim's UPDATE returned of it."""

    @property
    def org_code(self) -> str: ...

    @property
    def county_code(self) -> str | None: ...

    @property
    def hall_opened_at(self) -> datetime | None: ...


class Scoped(Protocol):
    @property
    def org_path(self) -> str: ...


def org_of(orgs: OrgLookup, code: str, field: str, location: str = "json") -> OrgInfo:
    info = orgs.get(code)
    if info is None:
        raise InvalidInput(f"org {code} does not exist", field=field, location=location)
    return info


def county_of(orgs: OrgLookup, township: OrgInfo) -> str | None:
    """The nearest ancestor of level county: the open hall's reach."""
    for code in reversed(township.path[:-1]):
        ancestor = orgs.get(code)
        if ancestor is not None and ancestor.level == "county":
            return ancestor.code
    return None


def officer_in_scope(principal: Principal, task: Scoped) -> bool:
    if principal.is_admin or principal.is_service:
        return True
    return principal.role in OFFICER_ROLES and f"/{principal.org}/" in task.org_path


def require_officer(principal: Principal, task: Scoped, what: str) -> None:
    if not officer_in_scope(principal, task):
        raise Forbidden(f"{principal.role} of {principal.org} may not {what} outside its subtree")


def branch_of(orgs: OrgLookup, principal: Principal) -> OrgInfo:
    """A member's branch (the token's org), as registration knows it."""
    info = orgs.get(principal.org)
    if info is None or info.level != "branch":
        raise Forbidden(f"your org {principal.org} is not a known branch")
    return info


def visible(task: Placed, branch: OrgInfo) -> bool:
    return domain.visible_to_branch(
        task.org_code, task.county_code, task.hall_opened_at is not None, branch.path
    )


def not_open_message(member_id: str, assigned_by: str | None) -> str:
    who = "your branch" if assigned_by is None else f"member {member_id}'s branch"
    return f"this task is not open to {who}"


def subtree_org(orgs: OrgLookup, principal: Principal, org_code: str | None) -> OrgInfo | None:
    """The org of `?org=`, checked against the caller's own scope."""
    if org_code is None:
        return None
    info = org_of(orgs, org_code, "org", "query")
    if principal.role in OFFICER_ROLES and principal.org not in info.path:
        raise Forbidden(f"{org_code} is outside your subtree")
    return info


def require_reader_of(orgs: OrgLookup, principal: Principal, info: OrgInfo) -> None:
    if principal.is_admin or principal.is_service:
        return
    if principal.role in (*OFFICER_ROLES, "branch_secretary") and principal.org in info.path:
        return
    if principal.role == "member":
        # A member sees the ranking of their own county (or of an org between it and their
        # branch), never a city's, a province's or the nation's (security review, finding 15).
        branch = branch_of(orgs, principal)
        county = county_of(orgs, branch)
        if info.code in branch.path and county is not None and county in info.path:
            return
    elif principal.role == "branch_secretary" and info.code in branch_of(orgs, principal).path:
        return
    raise Forbidden(f"{principal.role} of {principal.org} may not read {info.code}")


def require_stats_reader(principal: Principal, info: OrgInfo) -> None:
    if principal.is_admin or principal.is_service:
        return
    if principal.role in OFFICER_ROLES and principal.org in info.path:
        return
    raise Forbidden(f"{principal.role} of {principal.org} may not read stats of {info.code}")


class Task(Placed, Scoped, Protocol):
    """What the rules read of a task row."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def claimed(self) -> int: ...

    @property
    def lead_member_id(self) -> str | None: ...


class StandingReads(Protocol):
    """The repositories a standing is read from: a unit of work's, or a read snapshot's."""

    @property
    def claims(self) -> ClaimRepository: ...

    @property
    def leads(self) -> LeadRepository: ...

    @property
    def evaluations(self) -> EvaluationRepository: ...


def standing_of(orgs: OrgLookup, reads: StandingReads, actor: Principal, task: Task) -> domain.Standing:
    """Everything domain's rules need to decide what `actor` may do on `task`. A member's or a
    secretary's org must be a known branch (403 otherwise); a member's claim, leads and
    evaluation are read; an officer's scope is the task's path."""
    open_to_branch = False
    if actor.role in ("member", "branch_secretary"):
        open_to_branch = visible(task, branch_of(orgs, actor))
    member = actor.role == "member"
    return domain.Standing(
        role=actor.role,
        subject=actor.sub,
        org=actor.org,
        in_scope=officer_in_scope(actor, task),
        open_to_branch=open_to_branch,
        status=task.status,
        capacity=task.capacity,
        claimed=task.claimed,
        lead_member_id=task.lead_member_id,
        claimant=member and reads.claims.held(task.id, actor.sub),
        leads=reads.leads.led_by(actor.sub) if member else 0,
        max_led=reads.leads.cap,
        evaluated=member and reads.evaluations.given(task.id, "member", actor.sub),
    )
