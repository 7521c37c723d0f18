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
class Ref:
    """What a notice is about: a transfer, task, member or org, by id."""

    type: str  # transfer | task | member | org
    id: str


@dataclass(frozen=True)
class Route:
    """One recipient of an event and the template that speaks to them."""

    recipient: Recipient
    audience: str  # the template variant: member, branch, township, stage, ...
    urgent: bool = False  # overdue and expiry notices ignore quiet hours
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Message:
    """What one recipient is told: a template key and the data that fills it (not yet words),
    what it is about (`ref`, `link`), and the action it asks of them, if any (`action`: a key
    such as `decide:township`, resolved by the event that takes it)."""

    recipient: Recipient
    template: str  # "<event type>/<audience>", e.g. "transfer.stage_decided.v1/stage"
    urgent: bool
    data: dict[str, Any] = field(hash=False, compare=False)
    ref: Ref | None = None
    link: str | None = None
    action: str | None = None

    @property
    def action_required(self) -> bool:
        return self.action is not None


@dataclass(frozen=True)
class Resolution:
    """An event takes the action `action` (ANY: every action) on `ref`: the notices asking for it
    that came from earlier events are resolved for all their recipients."""

    ref: Ref
    action: str


ANY = "*"


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


def _not_the_actor(d: dict[str, Any]) -> Recipient | None:
    # A person is not told of what they did themself.
    return None if d.get("actor") == d["member_id"] else member(d["member_id"])


def _member_updated(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # A secretary changed the record: the member hears of it; the member changed it: the branch.
    if d.get("actor") == d["member_id"]:
        return [(org(d["branch_code"]), "branch")]
    return [(member(d["member_id"]), "member")]


def _dues_recorded(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(member(d["member_id"]), "member")]


def _member_returned(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["branch_code"]), "branch"), (_not_the_actor(d), "member")]


def _contact_attempted(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # The branch that did not make the attempt learns of it (the home branch of an attempt by the
    # inflow branch, and the reverse); one who made it needs no notice.
    acting = d.get("actor_org_code")
    routes: list[tuple[Recipient | None, str]] = []
    if acting != d["branch_code"]:
        routes.append((org(d["branch_code"]), "branch"))
    inflow = d.get("inflow_branch_code")
    if inflow and inflow != d["branch_code"] and acting != inflow:
        routes.append((org(inflow), "inflow"))
    return routes


def _suspension_due(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["branch_code"]), "branch"), (org(d.get("county_code")), "county")]


def _standing_changed(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(member(d["member_id"]), "member"), (org(d["branch_code"]), "branch")]


def _coverage_due(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d["branch_code"]), "branch")]


def _urged(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [(org(d.get("urged_stage_org_code")), "stage")]


def _decided(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # A return or refusal is told by transfer.returned / transfer.rejected, and the last approval
    # by transfer.letter_issued, from the same step: one notice per fact, not two (issue 21).
    if d.get("decision") != "approve":
        return []
    # The next stage must act; the member follows their case; an org an office above acted for
    # (代办) learns what was decided in its name.
    routes = _next_stage_and_member(d) if d.get("stage") else []
    return [*routes, (org(d.get("acted_for_org_code")), "acted_for")]


def _ended_by(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return [*_member_and_sender(d), (org(d.get("acted_for_org_code")), "acted_for")]


def _nobody(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    return []


def _reported_in(d: dict[str, Any]) -> list[tuple[Recipient | None, str]]:
    # The sending branch hears once, when the move completes (transfer.completed); the member
    # hears of the report only when someone else recorded it for them.
    return [(_not_the_actor(d), "member")]


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
    # The move is the transfer's completion, which transfer.completed tells the member and both
    # branches: a second notice of the same fact would be a duplicate (issue 21).
    reg.RELATIONSHIP_MOVED: _nobody,
    reg.MEMBER_UPDATED: _member_updated,
    reg.DUES_RECORDED: _dues_recorded,
    reg.MEMBER_RETURNED: _member_returned,
    reg.CONTACT_ATTEMPTED: _contact_attempted,
    reg.MEMBER_SUSPENSION_DUE: _suspension_due,
    reg.MEMBER_STANDING_CHANGED: _standing_changed,
    reg.COVERAGE_REMINDER_DUE: _coverage_due,
    trf.REQUESTED: _next_stage_and_member,
    trf.STAGE_DECIDED: _decided,
    trf.URGED: _urged,
    trf.STAGE_REMINDER: _stage_only,
    trf.STAGE_OVERDUE: _overdue_stage,
    trf.RETURNED: _ended_by,
    trf.REJECTED: _ended_by,
    trf.LETTER_ISSUED: _member_and_receiver,
    trf.LETTER_EXPIRING: _member_and_receiver,
    trf.COMPLETED: _member_and_both,
    trf.CANCELLED: _member_and_orgs,
    trf.EXPIRED: _member_and_orgs,
    trf.RESUBMITTED: _next_stage_and_member,
    trf.REPORTED_IN: _reported_in,
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
    """The notifications an event produces, one per recipient; unrouted types produce none.

    The data gains `event_time` (ISO): a notice may say how long something has waited."""
    ref = ref_of(envelope.type, envelope.data)
    data = {**envelope.data, "event_time": envelope.time.isoformat()}
    return [
        Message(
            route.recipient,
            f"{envelope.type}/{route.audience}",
            route.urgent,
            {**data, **route.extra},
            ref,
            link_of(envelope.type, envelope.data, route.recipient),
            action_of(envelope.type, route.audience, envelope.data),
        )
        for route in routes_for(envelope)
    ]


# --- what a notice is about, and what it asks ------------------------------------------------


def _stage_key(value: object) -> str:
    """A stage as its short key (`township`), whether given so or as its status (`pending_township`)."""
    return str(value or "").removeprefix("pending_")


def ref_of(event_type: str, d: dict[str, Any]) -> Ref | None:
    if event_type.startswith("transfer.") and d.get("transfer_id"):
        return Ref("transfer", str(d["transfer_id"]))
    if event_type.startswith("tasks.") and d.get("task_id"):
        return Ref("task", str(d["task_id"]))
    if d.get("member_id"):
        return Ref("member", str(d["member_id"]))
    code = d.get("branch_code") or d.get("org_code") or d.get("code")
    return Ref("org", str(code)) if code else None


def link_of(event_type: str, d: dict[str, Any], recipient: Recipient) -> str | None:
    """The console path of the notice's subject (the member's own page for a member's notice
    about themself)."""
    if event_type == reg.COVERAGE_REMINDER_DUE:
        return f"/members?org={d['branch_code']}&mobile=true&not_reached_in={d['month']}"
    ref = ref_of(event_type, d)
    if ref is None:
        return None
    if ref.type == "member":
        return "/me" if recipient == member(ref.id) else f"/members/{ref.id}"
    if ref.type == "org":
        return f"/roster?org={ref.id}"
    return f"/{ref.type}s/{ref.id}"


def _decide(d: dict[str, Any]) -> str | None:
    return f"decide:{_stage_key(d.get('stage'))}" if d.get("stage") else None


# (event type, audience) → the action the notice asks for, from the event's data.
ACTIONS: dict[tuple[str, str], Callable[[dict[str, Any]], str | None]] = {
    (trf.REQUESTED, "stage"): _decide,
    (trf.STAGE_DECIDED, "stage"): _decide,
    (trf.RESUBMITTED, "stage"): _decide,
    (trf.STAGE_REMINDER, "stage"): _decide,
    (trf.STAGE_OVERDUE, "stage"): _decide,
    # The org above follows up, and may act for the overdue stage (代办).
    (trf.STAGE_OVERDUE, "escalate"): _decide,
    (trf.URGED, "stage"): lambda d: f"decide:{_stage_key(d.get('urged_stage'))}",
    (trf.RETURNED, "member"): lambda d: "resubmit",
    (trf.LETTER_ISSUED, "member"): lambda d: "report",
    (trf.LETTER_ISSUED, "to"): lambda d: "report",
    (trf.LETTER_EXPIRING, "member"): lambda d: "report",
    (trf.LETTER_EXPIRING, "to"): lambda d: "report",
    (reg.MEMBER_LOST_CONTACT, "branch"): lambda d: "contact",
    (reg.MEMBER_SUSPENSION_DUE, "branch"): lambda d: "standing",
    (reg.MEMBER_SUSPENSION_DUE, "county"): lambda d: "standing",
    (reg.COVERAGE_REMINDER_DUE, "branch"): lambda d: f"coverage:{d['month']}",
    (tsk.TASK_COMPLETED, "org"): lambda d: "evaluate",
    (tsk.TASK_OVERDUE, "member"): lambda d: "complete",
}


def action_of(event_type: str, audience: str, d: dict[str, Any]) -> str | None:
    rule = ACTIONS.get((event_type, audience))
    return rule(d) if rule else None


def resolutions_for(envelope: Envelope) -> list[Resolution]:
    """The actions this event takes: the notices that asked for them are done, for everyone."""
    d, kind = envelope.data, envelope.type
    ref = ref_of(kind, d)
    if ref is None:
        return []
    taken: list[str] = []
    if kind == trf.STAGE_DECIDED:
        taken.append(f"decide:{_stage_key(d.get('decided_stage'))}")
    elif kind == trf.RETURNED:
        taken.append(f"decide:{_stage_key(d.get('returned_stage'))}")
    elif kind in (trf.REJECTED, trf.COMPLETED, trf.CANCELLED, trf.FAILED, tsk.TASK_CANCELLED, tsk.TASK_EVALUATED):
        taken.append(ANY)  # the case is closed: nothing it asked for is still to do
    elif kind == trf.RESUBMITTED:
        taken.append("resubmit")
    elif kind in (trf.REPORTED_IN, trf.EXPIRED):
        taken.append("report")
    elif kind == tsk.TASK_COMPLETED:
        taken.append("complete")
    elif kind == reg.MEMBER_CHECKED_IN or (kind == reg.CONTACT_ATTEMPTED and d.get("result") == "reached"):
        taken.append("contact")
    elif kind == reg.MEMBER_STANDING_CHANGED:
        taken.append("standing")
    return [Resolution(ref, action) for action in taken]


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
