"""The dataclasses that cross the Temporal boundary: workflow input, updates, activity arguments.

One dataclass argument each, so that fields can be added later without breaking histories
(new fields need defaults).
"""

# No `from __future__ import annotations`: the payload converter resolves these hints for every
# payload it decodes, and real annotations spare it evaluating strings each time.

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Plan:
    """The route-dependent part of a transfer: recomputed when a resubmit changes the destination."""

    to_branch_code: str
    route: str
    chain: list[str]
    # stage → org that holds it, and stage → org told when it turns overdue.
    stage_orgs: dict[str, str]
    escalation_orgs: dict[str, str | None]
    letter_validity_seconds: float
    letter_county: str
    to_path: str = ""
    # Issue 21: the names of the orgs this plan names (both branches, the stage holders), as the
    # API read them when it planned: the events carry names, and the worker asks no one.
    org_names: dict[str, str] = field(default_factory=dict)


@dataclass
class Reissue:
    """Why a run re-issues the letter of an expired transfer instead of running the approval chain."""

    actor: str
    reason: str | None = None


@dataclass
class TransferInput:
    transfer_id: str
    member_id: str
    from_branch_code: str
    plan: Plan
    dues_paid_through: str | None
    remind_after_seconds: float
    overdue_after_seconds: float
    letter_remind_before_seconds: float
    # Set on a later run of an expired transfer (same workflow id): skip the approval chain, issue
    # a new letter, then wait for the report-in as usual. Unset (as in every older history) is v1.
    reissue: Reissue | None = None


@dataclass
class AuditItem:
    """Who asked for an action, written to the audit log with the step that applies it."""

    actor: str
    actor_role: str
    action: str
    request_id: str | None = None
    actor_org: str | None = None  # unset before caller proofs


@dataclass
class CallerProof:
    """The transfer API's HMAC over the action and its caller (services/transfer/caller_proof.py);
    the key itself never crosses the boundary."""

    issued_at: int  # unix seconds
    mac: str
    version: str = "v1"


@dataclass
class DecisionRequest:
    decision: str
    actor: str
    reason: str | None = None
    # The stage the caller was authorised for; a different open stage means it was already decided.
    expected_stage: str | None = None
    audit: AuditItem | None = None  # unset in histories before the audit moved into the step
    proof: CallerProof | None = None
    # Issue 21 (all unset in older histories): an org department above decides an overdue stage
    # for its org (代办); the caller's name for the events; the member's dues as the sending
    # branch approved (the letter carries them).
    acted_for_org_code: str | None = None
    acted_for_org_name: str | None = None
    actor_name: str | None = None
    dues_paid_through: str | None = None


@dataclass
class ResubmitRequest:
    actor: str
    plan: Plan
    reason: str | None = None
    dues_paid_through: str | None = None
    audit: AuditItem | None = None
    proof: CallerProof | None = None


@dataclass
class CancelRequest:
    actor: str
    reason: str
    audit: AuditItem | None = None
    proof: CallerProof | None = None


@dataclass
class ReportRequest:
    actor: str
    audit: AuditItem | None = None
    proof: CallerProof | None = None


@dataclass
class TimelineItem:
    action: str
    actor: str
    stage: str | None = None
    org_code: str | None = None
    reason: str | None = None
    # 代办: the org whose overdue stage was decided by an org above it, and the words shown.
    acted_for_org_code: str | None = None
    note: str | None = None


@dataclass
class LetterRequest:
    county_code: str
    valid_until: str  # ISO date
    dues_paid_through: str | None


@dataclass
class EventItem:
    type: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Transition:
    """What the workflow decided a step does, before it is numbered, timed and written: the one
    argument of its `_record` (never sent itself; here so the sandbox does not rebuild it)."""

    status: str
    label: str
    events: list[EventItem] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)
    letter: LetterRequest | None = None
    plan: Plan | None = None
    finished: bool = False
    failure_reason: str | None = None
    receipt: bool = False
    audit: AuditItem | None = None

    @property
    def keeps_deadline(self) -> bool:
        """A reminder, an overdue mark or an expiry warning leaves the stage and its due time."""
        return self.label in ("remind", "overdue", "expiring")


@dataclass
class StepRecord:
    """One transition written to the projection, its timeline and the outbox in one transaction."""

    transfer_id: str
    step_key: str
    at: str  # ISO 8601, from workflow.now()
    status: str
    stage: str | None = None
    stage_org: str | None = None
    due_at: str | None = None
    overdue: bool = False
    events: list[EventItem] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)
    letter: LetterRequest | None = None
    plan: Plan | None = None
    finished: bool = False
    failure_reason: str | None = None
    receipt: bool = False
    # The caller's action, audited in the same transaction as its effect on the projection.
    audit: AuditItem | None = None
    # The plan's org names (Plan.org_names), for the names the step's events carry.
    org_names: dict[str, str] = field(default_factory=dict)


@dataclass
class MoveRequest:
    transfer_id: str
    member_id: str
    to_branch_code: str


@dataclass
class StatusView:
    status: str
    stage: str | None
    stage_org: str | None
