"""Routing: who must hear of an event, and which message (a template key and its data) each gets.

Every event type of the system maps to its recipients, `member:<member id>` or `org:<org code>`
(seen by the secretaries, officers and departments of that org). Events carry branch paths and
org codes, so routing never calls back to the publishing service. The words are the renderer's
business (`services.notify.rendering`), not the routing's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.auth import ORG_ROLES
from shared.contracts import registration as reg
from shared.contracts import tasks as tsk
from shared.contracts import transfer as trf
from shared.events import Envelope


@dataclass(frozen=True)
class Recipient:
    kind: str  # "member" or "org"
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Route:
    """One recipient of an event and the template that speaks to them."""

    recipient: Recipient
    audience: str  # the template variant: member, branch, township, stage, ...
    urgent: bool = False  # overdue and expiry notices ignore quiet hours
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Message:
    """What one recipient is told: a template key and the data that fills it (not yet words)."""

    recipient: Recipient
    template: str  # "<event type>/<audience>", e.g. "transfer.stage_decided.v1/stage"
    urgent: bool
    data: dict[str, Any] = field(hash=False, compare=False)


def member(member_id: str | None) -> Recipient | None:
    return Recipient("member", member_id) if member_id else None


def org(code: str | None) -> Recipient | None:
    return Recipient("org", code) if code else None


def parent_of(path: list[str], code: str) -> str | None:
    """The org above `code` on `path` (root first), e.g. a branch's township."""
    if code in path:
        index = path.index(code)
        return path[index - 1] if index > 0 else None
    return path[-2] if len(path) >= 2 else None


Router = Callable[[dict[str, Any]], list[tuple[Recipient | None, str]]]


def _org_created(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # The parent learns of its new sub-org; the new org's own people created it and need no notice.
    return [(org(d.get("parent_code")), "parent")]


def _staff_changed(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # The org whose staff changed is told (its other holders see who now acts for it).
    return [(org(d.get("org_code")), "org")]


def _member_created(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # The branch (or someone above it) registered the member: only the member is told.
    return [(member(d["member_id"]), "member")]


def _outflow(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    township = parent_of(d.get("branch_path") or [], d["branch_code"])
    return [
        (org(d["branch_code"]), "branch"),
        (member(d["member_id"]), "member"),
        (org(township), "township"),
    ]


def _inflow(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [
        (org(d["branch_code"]), "branch"),
        (org(d["home_branch_code"]), "home"),
        (member(d["member_id"]), "member"),
    ]


def _checked_in(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # The secretaries where the member reported in need to know who arrived; the home branch
    # learns that contact is restored.
    routes: list[tuple[Recipient | None, str]] = [(org(d["branch_code"]), "branch")]
    if d.get("home_branch_code") and d["home_branch_code"] != d["branch_code"]:
        routes.append((org(d["home_branch_code"]), "home"))
    return routes


def _lost_contact(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    township = parent_of(d.get("branch_path") or [], d["branch_code"])
    return [(org(d["branch_code"]), "branch"), (org(township), "township")]


def _relationship_moved(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [
        (member(d["member_id"]), "member"),
        (org(d["branch_code"]), "branch"),
        (org(d["from_branch_code"]), "from"),
    ]


def _next_stage_and_member(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # Whoever holds the next stage must act; the member follows their case.
    return [(org(d.get("stage_org_code")), "stage"), (member(d["member_id"]), "member")]


def _stage_only(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d.get("stage_org_code")), "stage")]


def _overdue_stage(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d.get("stage_org_code")), "stage"), (org(d.get("escalate_to_org_code")), "escalate")]


def _member_and_sender(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(member(d["member_id"]), "member"), (org(d["from_branch_code"]), "from")]


def _member_and_receiver(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(member(d["member_id"]), "member"), (org(d["to_branch_code"]), "to")]


def _member_and_both(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [
        (member(d["member_id"]), "member"),
        (org(d["from_branch_code"]), "from"),
        (org(d["to_branch_code"]), "to"),
    ]


def _member_and_orgs(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # A cancelled or expired transfer ends the work of both branches and of any open stage.
    return [
        (member(d["member_id"]), "member"),
        (org(d["from_branch_code"]), "org"),
        (org(d["to_branch_code"]), "org"),
        (org(d.get("stage_org_code")), "org"),
    ]


def _task_org(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["org_code"]), "org")]


def _task_org_and_member(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["org_code"]), "org"), (member(d["member_id"]), "member")]


def _progress(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    routes: list[tuple[Recipient | None, str]] = [(org(d["org_code"]), "org")]
    if d.get("lead_member_id") and d["lead_member_id"] != d["member_id"]:
        routes.append((member(d["lead_member_id"]), "lead"))
    return routes


def _claimants(d: dict[str, Any]) -> list[str]:
    ids = list(d.get("claimant_ids") or [])
    if d.get("lead_member_id") and d["lead_member_id"] not in ids:
        ids.insert(0, d["lead_member_id"])
    return ids


def _task_org_and_claimants(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["org_code"]), "org")] + [(member(m), "member") for m in _claimants(d)]


def _evaluated(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    awarded = {a["member_id"] for a in d.get("awards") or []}
    people = _claimants(d) + [m for m in awarded if m not in _claimants(d)]
    return [(org(d["org_code"]), "org")] + [(member(m), "member") for m in people]


def _opened_to_hall(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["org_code"]), "org"), (org(d["county_code"]), "org")]


ROUTES: dict[str, Router] = {
    reg.ORG_CREATED: _org_created,
    reg.MEMBER_CREATED: _member_created,
    reg.STAFF_ASSIGNED: _staff_changed,
    reg.STAFF_REMOVED: _staff_changed,
    reg.OUTFLOW_REGISTERED: _outflow,
    reg.INFLOW_REGISTERED: _inflow,
    reg.MEMBER_CHECKED_IN: _checked_in,
    reg.MEMBER_LOST_CONTACT: _lost_contact,
    reg.RELATIONSHIP_MOVED: _relationship_moved,
    trf.REQUESTED: _next_stage_and_member,
    trf.STAGE_DECIDED: _next_stage_and_member,
    trf.STAGE_REMINDER: _stage_only,
    trf.STAGE_OVERDUE: _overdue_stage,
    trf.RETURNED: _member_and_sender,
    trf.REJECTED: _member_and_sender,
    trf.LETTER_ISSUED: _member_and_receiver,
    trf.LETTER_EXPIRING: _member_and_receiver,
    trf.COMPLETED: _member_and_both,
    trf.CANCELLED: _member_and_orgs,
    trf.EXPIRED: _member_and_orgs,
    trf.RESUBMITTED: _next_stage_and_member,
    trf.REPORTED_IN: _member_and_sender,
    trf.FAILED: _member_and_sender,
    tsk.TASK_PUBLISHED: _task_org,
    tsk.TASK_CLAIMED: _task_org_and_member,
    tsk.CLAIM_WITHDRAWN: _task_org_and_member,
    tsk.PROGRESS_REPORTED: _progress,
    tsk.TASK_COMPLETED: _task_org_and_claimants,
    tsk.TASK_EVALUATED: _evaluated,
    tsk.TASK_OVERDUE: _task_org_and_claimants,
    tsk.TASK_OPENED_TO_HALL: _opened_to_hall,
    tsk.TASK_CANCELLED: _task_org_and_claimants,
}

# Overdue and expiry notices are sent even in quiet hours: a deadline is passing.
URGENT = {trf.STAGE_OVERDUE, trf.LETTER_EXPIRING, trf.EXPIRED, tsk.TASK_OVERDUE}


def routes_for(envelope: Envelope) -> list[Route]:
    """The recipients of an event, each once (the first route to a recipient wins)."""
    router = ROUTES.get(envelope.type)
    if router is None:
        return []
    seen: set[Recipient] = set()
    routes: list[Route] = []
    urgent = envelope.type in URGENT
    for recipient, audience in router(envelope.data):
        if recipient is None or recipient in seen:
            continue
        seen.add(recipient)
        extra: dict[str, Any] = {}
        if envelope.type == tsk.TASK_EVALUATED and recipient.kind == "member":
            points = {a["member_id"]: a["points"] for a in envelope.data.get("awards") or []}
            extra["points_awarded"] = points.get(recipient.id)
        routes.append(Route(recipient, audience, urgent, extra))
    return routes


def messages_for(envelope: Envelope) -> list[Message]:
    """The notifications an event produces, one per recipient; unrouted types produce none."""
    return [
        Message(
            route.recipient,
            f"{envelope.type}/{route.audience}",
            route.urgent,
            {**envelope.data, **route.extra},
        )
        for route in routes_for(envelope)
    ]


class Reader(Protocol):
    """Who reads an inbox: a request's principal."""

    @property
    def sub(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def org(self) -> str: ...


def inboxes_of(reader: Reader) -> list[Recipient]:
    """The inboxes a reader sees: their own, and their org's for the org roles."""
    mine = [Recipient("member", reader.sub)]
    return [*mine, Recipient("org", reader.org)] if reader.role in ORG_ROLES else mine


def addressed_to(reader: Reader, recipient: Recipient) -> bool:
    """Whether a notification to `recipient` is the reader's to read (and mark read)."""
    return recipient in inboxes_of(reader)
