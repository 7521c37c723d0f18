"""Who must hear of an event, what they are told, and how a delivery moves. Pure: no I/O.

Routing: every event type of the system maps to its recipients, `member:<member id>` or
`org:<org code>` (seen by the secretaries, officers and departments of that org). Events carry
branch paths and org codes, so routing never calls back to the publishing service.

Deliveries: queued → sent, or → retrying (exponential backoff with jitter) → failed once the
attempts are spent (or at once for a permanent error) → dead when settled; a dead delivery hands
over to the next fallback channel of that person.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notify.templates import DEFAULT_LOCALE, LOCALES, render
from shared.contracts import registration as reg
from shared.contracts import tasks as tsk
from shared.contracts import transfer as trf
from shared.events import Envelope

# --- routing --------------------------------------------------------------------------------


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
    recipient: Recipient
    template: str
    urgent: bool
    texts: dict[str, tuple[str, str]]  # locale → (title, body)

    @property
    def title(self) -> str:
        return self.texts[DEFAULT_LOCALE][0]

    @property
    def body(self) -> str:
        return self.texts[DEFAULT_LOCALE][1]

    def text(self, locale: str) -> tuple[str, str]:
        return self.texts.get(locale) or self.texts[DEFAULT_LOCALE]


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


def messages_for(envelope: Envelope, zone: str = "Asia/Shanghai") -> list[Message]:
    """The notifications an event produces, rendered in every locale; unrouted types produce none."""
    messages = []
    for route in routes_for(envelope):
        key = f"{envelope.type}/{route.audience}"
        data = {**envelope.data, **route.extra}
        texts = {locale: render(key, locale, data, zone) for locale in LOCALES}
        messages.append(Message(route.recipient, key, route.urgent, texts))
    return messages


# --- preferences and quiet hours ------------------------------------------------------------

CHANNELS = ("inapp", "email", "sms", "webhook")
CONTACT_FIELD = {"email": "email", "sms": "phone", "webhook": "webhook_url"}
# When a channel is dead for a person, try these next (those the person gave an address for).
FALLBACK: dict[str, tuple[str, ...]] = {
    "webhook": ("email", "sms"),
    "email": ("sms", "webhook"),
    "sms": ("email", "webhook"),
}


def parse_clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, start: str | None, end: str | None, zone: str) -> datetime | None:
    """If `now` falls in the quiet hours [start, end) of `zone`, when they end (aware); else None.

    Quiet hours may wrap midnight (22:00–07:00).
    """
    if not start or not end or start == end:
        return None
    local = now.astimezone(ZoneInfo(zone))
    begin, finish = parse_clock(start), parse_clock(end)
    clock = local.time().replace(second=0, microsecond=0)
    wraps = begin > finish
    inside = (clock >= begin or clock < finish) if wraps else (begin <= clock < finish)
    if not inside:
        return None
    ends = local.replace(hour=finish.hour, minute=finish.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(now.tzinfo)


def planned_channels(preference: dict[str, Any]) -> list[tuple[str, str]]:
    """(channel, address) for each enabled outside channel the person has an address for."""
    channels = preference.get("channels") or {}
    planned = []
    for channel in ("webhook", "email", "sms"):
        address = preference.get(CONTACT_FIELD[channel])
        if channels.get(channel) and address:
            planned.append((channel, address))
    return planned


def fallback_channel(failed: str, preference: dict[str, Any], tried: set[str]) -> tuple[str, str] | None:
    """The next channel (and address) for a person whose `failed` channel is dead, if any."""
    for channel in FALLBACK.get(failed, ()):
        address = preference.get(CONTACT_FIELD[channel])
        if channel not in tried and address:
            return channel, address
    return None


# --- the delivery state machine -------------------------------------------------------------

QUEUED, SENT, RETRYING, FAILED, DEAD = "queued", "sent", "retrying", "failed", "dead"
STATUSES = (QUEUED, SENT, RETRYING, FAILED, DEAD)
DUE = (QUEUED, RETRYING)


@dataclass(frozen=True)
class Outcome:
    status: str
    attempts: int
    retry_in: timedelta | None = None


def retry_delay(
    attempts: int, base: timedelta, cap: timedelta, jitter: Callable[[], float] = random.random
) -> timedelta:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled into [50%, 100%]."""
    raw = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=raw * (0.5 + 0.5 * jitter()))


def after_attempt(
    status: str,
    attempts: int,
    error: str | None,
    permanent: bool,
    max_attempts: int,
    base: timedelta,
    cap: timedelta,
    jitter: Callable[[], float] = random.random,
) -> Outcome:
    """The delivery's state after one attempt: sent, retrying with a delay, or failed."""
    if status not in DUE:
        raise ValueError(f"a {status} delivery is not attempted")
    tries = attempts + 1
    if error is None:
        return Outcome(SENT, tries)
    if permanent or tries >= max_attempts:
        return Outcome(FAILED, tries)
    return Outcome(RETRYING, tries, retry_delay(tries, base, cap, jitter))


def settle_failed(status: str) -> str:
    """A failed delivery is settled as dead once its fallback (if any) is queued."""
    if status != FAILED:
        raise ValueError(f"only a failed delivery is settled, not a {status} one")
    return DEAD


# --- the daily digest -----------------------------------------------------------------------

TRANSFER_OPEN = {"pending_sending_branch", "pending_township", "pending_county", "pending_receiving_branch"}
TASK_CLOSED = {tsk.TASK_COMPLETED, tsk.TASK_EVALUATED, tsk.TASK_CANCELLED}


@dataclass(frozen=True)
class TodoChange:
    """How an event changes what waits on orgs: drop every row of `ref`, then add `add` if any."""

    kind: str
    ref_id: str
    add: tuple[str, str, str | None] | None  # (org code, label, due)


def todo_change(envelope: Envelope) -> TodoChange | None:
    d = envelope.data
    if envelope.type.startswith("transfer."):
        label = f"{d['member_name']}：{d['from_branch_code']} → {d['to_branch_code']}"
        waiting = d.get("stage_org_code") and d.get("status") in TRANSFER_OPEN
        add = (d["stage_org_code"], label, d.get("due_at")) if waiting else None
        return TodoChange("transfer", d["transfer_id"], add)
    if envelope.type == tsk.TASK_OVERDUE:
        return TodoChange("task", d["task_id"], (d["org_code"], d["title"], d.get("due_on")))
    if envelope.type in TASK_CLOSED:
        return TodoChange("task", d["task_id"], None)
    return None


def digest_data(org_code: str, todos: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    """Template fields of one org's digest from its (kind, label, due) rows."""
    transfers = [f"{label}（{due or '—'}）" for kind, label, due in todos if kind == "transfer"]
    tasks = [f"{label}（{due or '—'}）" for kind, label, due in todos if kind == "task"]
    return {
        "org_code": org_code,
        "todo_count": len(transfers),
        "overdue_count": len(tasks),
        "todo_lines": "；".join(transfers),
        "overdue_lines": "；".join(tasks),
    }


def digest_message(org_code: str, todos: list[tuple[str, str, str | None]]) -> Message:
    data = digest_data(org_code, todos)
    texts = {locale: render("notify.digest/org", locale, data) for locale in LOCALES}
    return Message(Recipient("org", org_code), "notify.digest/org", False, texts)
