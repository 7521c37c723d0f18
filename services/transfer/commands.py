"""Transfer write use cases: authorise, consult registration, write the projection, drive the workflow.

Temporal owns the process; these handlers check who may act (403), what the projection says
(409 before bothering Temporal), then send a workflow update whose validator has the last word.
The workflow's step writes the effect, its events and the caller's audit entry together, so an
action Temporal refuses is never audited as done. Each handler returns the transfer's id; the
API answers with the transfer as it then stands (queries.full_view).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.transfer import domain
from services.transfer.clients import ProcessNotStarted, Route
from services.transfer.messages import (
    AuditItem,
    CancelRequest,
    DecisionRequest,
    Plan,
    Reissue,
    ReportRequest,
    ResubmitRequest,
    TransferInput,
)
from services.transfer.models import TimelineEntry, Transfer
from services.transfer.projection import event_data
from services.transfer.queries import facts_of
from services.transfer.settings import TransferSettings
from services.transfer.unit_of_work import TransferUnitOfWork
from shared.auth import Principal
from shared.clock import local_today
from shared.contracts import transfer as events
from shared.db import new_id, utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NuanliuError, Unavailable
from shared.logging import current_request_id

# How long /reissue waits for the new run to write its letter to the projection.
REISSUE_WAIT_SECONDS = 15.0
# How many items of a batch of decisions are decided at once: each waits mostly on its own
# workflow update; more would only queue on the worker and the database writer.
BATCH_PARALLELISM = 4


# --- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Apply:
    member_id: str
    to_branch_code: str
    reason: str


@dataclass(frozen=True)
class Decide:
    transfer_id: str
    decision: str
    reason: str | None = None


@dataclass(frozen=True)
class Resubmit:
    transfer_id: str
    to_branch_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Cancel:
    transfer_id: str
    reason: str


@dataclass(frozen=True)
class Report:
    transfer_id: str


@dataclass(frozen=True)
class ReissueLetter:
    transfer_id: str
    reason: str | None = None


@dataclass(frozen=True)
class Urge:
    transfer_id: str
    note: str | None = None


# --- plans --------------------------------------------------------------------------------


def build_plan(
    settings: TransferSettings, route: Route, to_path: str, org_names: dict[str, str] | None = None
) -> Plan:
    chain = domain.parse_chain(settings.transfer_chains[route.route])
    stage_orgs = {stage: domain.stage_org(stage, route.sending, route.receiving) for stage in chain}
    escalation = {stage: domain.escalation_org(stage, route.sending, route.receiving) for stage in chain}
    return Plan(
        to_branch_code=route.receiving.branch,
        route=route.route,
        chain=list(chain),
        stage_orgs=stage_orgs,
        escalation_orgs=escalation,
        letter_validity_seconds=settings.letter_validity[route.route].total_seconds(),
        letter_county=domain.letter_county(route.sending),
        to_path=to_path,
        org_names=dict(org_names or {}),
    )


def _plan_to(uow: TransferUnitOfWork, from_branch: str, to_branch: str) -> Plan:
    route = uow.registration.route(from_branch, to_branch)
    plan = build_plan(uow.settings, route, uow.registration.path(route.receiving.branch))
    # The names the events will carry (the directory is cached: a known org costs nothing).
    plan.org_names = uow.registration.org_names(
        [from_branch, plan.to_branch_code, plan.letter_county, *plan.stage_orgs.values()]
    )
    return plan


def _workflow_input(
    uow: TransferUnitOfWork,
    transfer: Any,
    plan: Plan,
    dues: str | None,
    reissue: Reissue | None = None,
) -> TransferInput:
    settings = uow.settings
    return TransferInput(
        transfer_id=transfer.id,
        member_id=transfer.member_id,
        from_branch_code=transfer.from_branch_code,
        plan=plan,
        dues_paid_through=dues,
        remind_after_seconds=settings.stage_remind_after.total_seconds(),
        overdue_after_seconds=settings.stage_overdue_after.total_seconds(),
        letter_remind_before_seconds=settings.letter_remind_before.total_seconds(),
        reissue=reissue,
    )


# --- who may do what: domain.permission, over the facts read here -------------------------


def caller_of(principal: Principal) -> domain.Caller:
    return domain.Caller(principal.sub, principal.role, principal.org)


def _facts(uow: TransferUnitOfWork, transfer_id: str, now: datetime) -> tuple[Any, domain.TransferFacts]:
    transfer, chain_orgs = uow.current_with_chain(transfer_id)
    return transfer, facts_of(transfer, chain_orgs, now)


def _permit(
    action: str, principal: Principal, facts: domain.TransferFacts, now: datetime
) -> domain.Permission:
    return domain.permission(action, caller_of(principal), facts, now).check()


def _audit_item(principal: Principal, action: str) -> AuditItem:
    """The caller's action for the workflow to audit with the step that applies it: an applied
    action is audited in the same transaction as its effect, and a refused one not at all."""
    return AuditItem(principal.sub, principal.role, action, current_request_id(), principal.org)


# --- applying and re-issuing: the API writes the projection, then starts the process -------


def apply(uow: TransferUnitOfWork, principal: Principal, command: Apply) -> str:
    if principal.role not in ("member", "branch_secretary"):
        raise Forbidden("only the member or the sending branch's secretary may apply")
    if principal.role == "member" and principal.sub != command.member_id:
        raise Forbidden("a member may apply only for themself")
    member = uow.registration.member(command.member_id)
    if principal.role == "branch_secretary" and principal.org != member.branch_code:
        raise Forbidden("only the secretary of the member's own branch may apply for them")
    domain.check_new_transfer(member.branch_code, command.to_branch_code)
    plan = _plan_to(uow, member.branch_code, command.to_branch_code)
    from_path = uow.registration.path(member.branch_code)
    now = utcnow()
    first_stage = plan.chain[0]
    transfer = Transfer(
        id=new_id(),
        member_id=member.id,
        member_name=member.name,
        open_member_id=member.id,
        applicant=principal.sub,
        applicant_role=principal.role,
        reason=command.reason,
        route=plan.route,
        from_branch_code=member.branch_code,
        to_branch_code=plan.to_branch_code,
        from_path=from_path,
        to_path=plan.to_path,
        status=domain.stage_status(first_stage),
        current_stage=first_stage,
        current_stage_org=plan.stage_orgs[first_stage],
        current_stage_path=domain.org_path(plan.stage_orgs[first_stage], from_path, plan.to_path),
        due_at=now + uow.settings.stage_overdue_after,
        overdue=False,
        created_at=now,
        updated_at=now,
    )
    entry = TimelineEntry(
        transfer_id=transfer.id,
        at=now,
        stage=None,
        org_code=member.branch_code if principal.role == "branch_secretary" else None,
        actor=principal.sub,
        action="apply",
        reason=command.reason,
    )
    # What the workflow starts with, taken before the unit of work closes its session.
    workflow_input = _workflow_input(uow, transfer, plan, member.dues_paid_through)
    status, stage_org = transfer.status, transfer.current_stage_org
    requested = {**event_data(transfer, plan.org_names), "reason": command.reason, "applicant": principal.sub}
    with uow:
        if uow.transfers.open_transfer_of(member.id):
            raise Conflict("the member already has an open transfer", field="member_id")
        uow.transfers.add(transfer, plan.chain, plan.stage_orgs, entry)
        uow.emit(events.REQUESTED, transfer.id, requested)
        uow.audit(principal, "apply", "transfer", transfer.id)
        uow.commit()
    _start(uow, workflow_input, status, stage_org)
    return workflow_input.transfer_id


def _start(
    uow: TransferUnitOfWork, workflow_input: TransferInput, status: str, stage_org: str | None
) -> None:
    """Start the transfer's process; if none could be, end the projection visibly and free the
    member: never a projection with no process behind it."""
    try:
        uow.processes.start(workflow_input, status, stage_org)
    except ProcessNotStarted as error:
        reason = f"the transfer process could not be started: {error.cause_name}"
        with uow:
            failed = uow.transfers.mark_failed(workflow_input.transfer_id, reason, utcnow())
            if failed is not None:
                uow.emit(events.FAILED, failed.id, {**event_data(failed), "reason": reason})
            uow.commit()
        raise Unavailable(reason) from error


def reissue(uow: TransferUnitOfWork, principal: Principal, command: ReissueLetter) -> str:
    """docs/domain.md step 6: an expired letter is re-issued (a new serial and validity, no approvals)."""
    transfer_id = command.transfer_id
    now = utcnow()
    current, facts = _facts(uow, transfer_id, now)
    _permit("reissue", principal, facts, now)
    plan = _plan_to(uow, current.from_branch_code, current.to_branch_code)
    dues = uow.registration.member(current.member_id).dues_paid_through
    workflow_input = _workflow_input(uow, current, plan, dues, Reissue(principal.sub, command.reason))
    try:
        with uow:
            if uow.transfers.open_transfer_of(current.member_id, other_than=transfer_id):
                raise Conflict("the member already has another open transfer", field="member_id")
            if uow.transfers.claim_for_reissue(transfer_id, current.member_id) is None:
                raise Conflict("the letter of this transfer is already being re-issued")
            uow.audit(principal, "reissue", "transfer", transfer_id)
            uow.commit()
    except IntegrityError as error:
        raise Conflict("the member already has another open transfer", field="member_id") from error
    try:
        uow.processes.start_reissue(workflow_input, domain.LETTER_ISSUED)
    except ProcessNotStarted as error:
        with uow:  # the member is freed again
            uow.transfers.release_reissue(transfer_id)
            uow.commit()
        raise Unavailable(f"the letter could not be re-issued: {error.cause_name}") from error
    # The new run writes the letter in its first step: answer once the projection shows it.
    deadline = time.monotonic() + REISSUE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if uow.current(transfer_id).status != domain.EXPIRED:
            break
        time.sleep(0.1)
    return transfer_id


# --- actions on a running process: checked here, applied by the workflow ------------------


def decide(uow: TransferUnitOfWork, principal: Principal, command: Decide) -> str:
    domain.check_decision(command.decision, command.reason)
    now = utcnow()
    transfer, facts = _facts(uow, command.transfer_id, now)
    permitted = domain.permission(command.decision, caller_of(principal), facts, now)
    dues: str | None = None
    if permitted.allowed and command.decision == "approve" and facts.stage == "sending_branch":
        # Dues before the move: read as the sending branch approves; the letter carries them.
        dues = uow.registration.member(transfer.member_id).dues_paid_through
        behind = domain.months_behind(dues, local_today(now))
        facts = replace(facts, dues_months_behind=behind)
        permitted = domain.permission(command.decision, caller_of(principal), facts, now)
    permitted.check()
    acted_for_name: str | None = None
    if permitted.acting_for is not None:
        if not (command.reason and command.reason.strip()):
            raise InvalidInput("a reason is required to act for an overdue stage", field="reason")
        acted_for_name = uow.registration.org_name(permitted.acting_for) or permitted.acting_for
    request = DecisionRequest(
        command.decision,
        principal.sub,
        command.reason,
        expected_stage=facts.stage,
        audit=_audit_item(principal, f"decide:{command.decision}"),
        acted_for_org_code=permitted.acting_for,
        acted_for_org_name=acted_for_name,
        actor_name=principal.name,
        dues_paid_through=dues,
    )
    uow.processes.decide(command.transfer_id, request)
    return command.transfer_id


@dataclass(frozen=True)
class ItemOutcome:
    """One item of a batch of decisions: its status as the single endpoint would answer it."""

    transfer_id: str
    status: int
    error: dict[str, Any] | None = None


def decide_item(uow: TransferUnitOfWork, principal: Principal, command: Decide) -> ItemOutcome:
    """One item of POST /transfers/decisions: exactly the single endpoint's use case (the same
    authorization, validators and workflow update), its refusal kept as the item's status."""
    try:
        decide(uow, principal, command)
    except NuanliuError as error:
        detail: dict[str, Any] = {"code": error.status, "message": error.message}
        if error.field:
            detail["errors"] = {error.location: {error.field: [error.message]}}
        return ItemOutcome(command.transfer_id, error.status, detail)
    return ItemOutcome(command.transfer_id, 200)


def resubmit(uow: TransferUnitOfWork, principal: Principal, command: Resubmit) -> str:
    now = utcnow()
    transfer, facts = _facts(uow, command.transfer_id, now)
    _permit("resubmit", principal, facts, now)
    from_branch = transfer.from_branch_code
    to_branch = command.to_branch_code or transfer.to_branch_code
    domain.check_new_transfer(from_branch, to_branch)
    plan = _plan_to(uow, from_branch, to_branch)
    dues = uow.registration.member(transfer.member_id).dues_paid_through
    request = ResubmitRequest(principal.sub, plan, command.reason, dues, _audit_item(principal, "resubmit"))
    uow.processes.resubmit(command.transfer_id, request)
    return command.transfer_id


def cancel(uow: TransferUnitOfWork, principal: Principal, command: Cancel) -> str:
    now = utcnow()
    _, facts = _facts(uow, command.transfer_id, now)
    _permit("cancel", principal, facts, now)
    request = CancelRequest(principal.sub, command.reason, _audit_item(principal, "cancel"))
    uow.processes.cancel(command.transfer_id, request)
    return command.transfer_id


def report(uow: TransferUnitOfWork, principal: Principal, command: Report) -> str:
    now = utcnow()
    _, facts = _facts(uow, command.transfer_id, now)
    _permit("report", principal, facts, now)
    uow.processes.report(command.transfer_id, ReportRequest(principal.sub, _audit_item(principal, "report")))
    return command.transfer_id


# --- urging a stage (催办): no process change, so the API writes it itself ----------------------


def urge(uow: TransferUnitOfWork, principal: Principal, command: Urge) -> str:
    """Ask the holders of the open stage to act: at most once a day per caller and stage (the
    claim is a conditional upsert, so two concurrent urges cannot both pass)."""
    now = utcnow()
    transfer, chain_orgs = uow.current_with_chain(command.transfer_id)
    stage = transfer.current_stage
    urged_at = uow.last_urge(command.transfer_id, stage, principal.sub) if stage else None
    facts = facts_of(transfer, chain_orgs, now, urged_at=urged_at)
    _permit("urge", principal, facts, now)
    assert stage is not None and facts.stage_org is not None  # the rule refused a closed stage
    names = uow.registration.org_names([transfer.from_branch_code, transfer.to_branch_code, facts.stage_org])
    # A stage's due time is its start plus the overdue period (the workflow sets both together).
    waiting_since = (
        transfer.due_at - uow.settings.stage_overdue_after if transfer.due_at else transfer.updated_at
    )
    urged = {
        **event_data(transfer, names),
        "urged_stage": stage,
        "urged_stage_org_code": facts.stage_org,
        "urged_stage_org_name": names.get(facts.stage_org),
        "waiting_since": waiting_since.astimezone(UTC).isoformat(),
        "note": command.note,
        "actor": principal.sub,
        "actor_name": principal.name,
        "actor_org_code": principal.org,
    }
    entry = TimelineEntry(
        transfer_id=transfer.id,
        at=now,
        stage=stage,
        org_code=None,  # an urge is no step of the urging org's: it does not put the transfer in its boxes
        actor=principal.sub,
        action="urge",
        reason=None,
        note=command.note,
    )
    with uow:
        if not uow.transfers.claim_urge(transfer.id, stage, principal.sub, now, now - domain.URGE_INTERVAL):
            last = uow.transfers.urged_at(transfer.id, stage, principal.sub) or now
            # Lost a race to another urge of the same caller: the rule answers as it would have.
            domain.permission("urge", caller_of(principal), replace(facts, urged_at=last), now).check()
            raise domain.UrgedRecently("you urged this stage less than 24 hours ago", 1)
        uow.transfers.add_timeline(entry)
        uow.emit(events.URGED, transfer.id, urged)
        uow.audit(principal, "urge", "transfer", transfer.id)
        uow.commit()
    return transfer.id
