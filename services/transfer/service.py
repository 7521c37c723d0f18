"""Transfer use cases: authorise, consult registration, write the projection, drive the workflow.

Temporal owns the process; these functions check who may act (403), what the projection says
(409 before bothering Temporal), then send a workflow update whose validator has the last word.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.transfer import domain, search_attributes
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
from services.transfer.models import TimelineEntry, Transfer, TransferStage, audit_log, outbox
from services.transfer.registration import Registration, Route
from services.transfer.workflows import TransferWorkflow
from shared import audit
from shared.auth import ORG_ROLES, Principal
from shared.contracts import transfer as events
from shared.db import Database, new_id, utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from shared.logging import current_request_id
from shared.pagination import decode_cursor, page
from shared.settings import Settings
from shared.temporal import TemporalGateway

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class TransferDeps:
    """What the use cases talk to; one per process, stored in the service context."""

    settings: Settings
    database: Database
    registration: Registration
    temporal: TemporalGateway
    _temporal_checked_at: float = field(default=0.0)
    _temporal_ok: bool = field(default=False)

    def temporal_reachable(self) -> bool:
        # A readiness probe per request would hammer Temporal: cache the answer a few seconds.
        now = time.monotonic()
        if now - self._temporal_checked_at > 5.0:
            self._temporal_ok = self.temporal.reachable()
            self._temporal_checked_at = now
        return self._temporal_ok


# --- plans and views ----------------------------------------------------------------------


def build_plan(settings: Settings, route: Route, to_path: str) -> Plan:
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
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# A Transfer, or a row of its table: the view and the checks read columns by name.
Projection = Transfer | Row[Any]


def transfer_view(transfer: Projection, timeline: Sequence[Any] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": transfer.id,
        "member_id": transfer.member_id,
        "member_name": transfer.member_name,
        "from_branch_code": transfer.from_branch_code,
        "to_branch_code": transfer.to_branch_code,
        "route": transfer.route,
        "status": transfer.status,
        "reason": transfer.reason,
        "applicant": transfer.applicant,
        "current_stage": {
            "name": transfer.current_stage,
            "org_code": transfer.current_stage_org,
            "due_at": transfer.due_at,
            "overdue": transfer.overdue,
        }
        if transfer.current_stage
        else None,
        "letter": {
            "number": transfer.letter_number,
            "issued_on": transfer.letter_issued_on,
            "valid_until": transfer.letter_valid_until,
            "dues_paid_through": transfer.letter_dues_paid_through,
        }
        if transfer.letter_number
        else None,
        "failure_reason": transfer.failure_reason,
        "receipt_at": transfer.receipt_at,
        "created_at": transfer.created_at,
        "updated_at": transfer.updated_at,
    }
    if timeline is not None:
        view["timeline"] = [
            {
                "at": e.at,
                "stage": e.stage,
                "org_code": e.org_code,
                "actor": e.actor,
                "action": e.action,
                "reason": e.reason,
            }
            for e in timeline
        ]
    return view


def _load(session: Session, transfer_id: str) -> Transfer:
    transfer = session.get(Transfer, transfer_id)
    if transfer is None:
        raise NotFound(f"transfer {transfer_id} does not exist")
    return transfer


# Built once: every decision reads its transfer before and after, and building a statement costs
# SQLAlchemy more than running it (see activities.StepStatements).
_TRANSFERS = Transfer.__table__
_TIMELINE = TimelineEntry.__table__
_READ_TRANSFER = select(_TRANSFERS).where(_TRANSFERS.c.id == bindparam("b_id"))
_READ_TIMELINE = (
    select(_TIMELINE).where(_TIMELINE.c.transfer_id == bindparam("b_id")).order_by(_TIMELINE.c.id)
)


def _row(connection: Connection, transfer_id: str) -> Row[Any]:
    row = connection.execute(_READ_TRANSFER, {"b_id": transfer_id}).first()
    if row is None:
        raise NotFound(f"transfer {transfer_id} does not exist")
    return row


def _current(database: Database, transfer_id: str) -> Row[Any]:
    """The projection row as it stands, for the checks before a workflow update."""
    with database.snapshot() as connection:
        return _row(connection, transfer_id)


def _full_view(database: Database, transfer_id: str) -> dict[str, Any]:
    with database.snapshot() as connection:
        return _view_with_timeline(connection, _row(connection, transfer_id))


def _view_with_timeline(connection: Connection, transfer: Row[Any]) -> dict[str, Any]:
    timeline = connection.execute(_READ_TIMELINE, {"b_id": transfer.id}).all()
    return transfer_view(transfer, timeline)


# --- who may do what ----------------------------------------------------------------------


def _in_scope(principal: Principal, transfer: Projection) -> bool:
    if principal.is_admin or principal.is_service:
        return True
    if principal.role == "member":
        return principal.sub == transfer.member_id
    mark = f"/{principal.org}/"
    return principal.role in ORG_ROLES and (mark in transfer.from_path or mark in transfer.to_path)


def _is_applicant_side(principal: Principal, transfer: Projection) -> bool:
    """The member, or a secretary of the sending branch: who may apply, resubmit and cancel."""
    if principal.role == "member":
        return principal.sub == transfer.member_id
    return principal.role == "branch_secretary" and principal.org == transfer.from_branch_code


def _is_participant(principal: Principal, transfer: Projection) -> bool:
    """Could the caller hold some stage of this transfer (past or ahead)? Then a miss is a 409."""
    if principal.role == "branch_secretary":
        return principal.org in (transfer.from_branch_code, transfer.to_branch_code)
    return (
        principal.role in ("township_officer", "org_department")
        and f"/{principal.org}/" in transfer.from_path
    )


def _require_stage_holder(principal: Principal, transfer: Projection) -> str:
    # The wrong org is refused before any state is looked at: an outsider must not learn from a
    # 409 that a transfer it may not read has finished or is waiting for a report-in.
    if not (principal.is_admin or _is_participant(principal, transfer)):
        raise Forbidden(f"{principal.role} of {principal.org} holds no stage of this transfer")
    stage = transfer.current_stage
    if stage is None or not domain.is_open(transfer.status):
        raise Conflict(f"no stage is open: the transfer is {transfer.status}")
    if principal.is_admin:
        return stage
    if principal.role == domain.STAGE_ROLE[stage] and principal.org == transfer.current_stage_org:
        return stage
    # Someone with a part in this transfer, but not now: their stage is past or still ahead.
    raise Conflict(f"the transfer is at {transfer.status}, held by {transfer.current_stage_org}")


# --- Temporal -----------------------------------------------------------------------------


def _workflow_call(
    deps: TransferDeps, operation: Callable[[Client], Awaitable[T]], timeout: float = 30.0
) -> T:
    """Call Temporal; a refused update becomes the matching 409 or 422."""
    try:
        return deps.temporal.call(operation, timeout=timeout)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
        if isinstance(cause, ApplicationError) and cause.type == "InvalidInput":
            raise InvalidInput(message, field="decision") from error
        raise Conflict(message) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Conflict("the transfer's process has already finished") from error
        raise Unavailable(f"Temporal refused the call: {error.message}") from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        # Seen while the Temporal server restarts: the update may or may not land; retry later.
        raise Unavailable("Temporal did not confirm the update in time; try again") from error


def _update(deps: TransferDeps, transfer_id: str, update: Any, request: Any, timeout: float = 30.0) -> None:
    async def send(client: Client) -> Any:
        return await client.get_workflow_handle(f"transfer-{transfer_id}").execute_update(update, request)

    _workflow_call(deps, send, timeout)


# --- use cases ----------------------------------------------------------------------------


def apply(deps: TransferDeps, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    if principal.role not in ("member", "branch_secretary"):
        raise Forbidden("only the member or the sending branch's secretary may apply")
    if principal.role == "member" and principal.sub != body["member_id"]:
        raise Forbidden("a member may apply only for themself")
    member = deps.registration.member(body["member_id"])
    if principal.role == "branch_secretary" and principal.org != member.branch_code:
        raise Forbidden("only the secretary of the member's own branch may apply for them")
    domain.check_new_transfer(member.branch_code, body["to_branch_code"])
    route = deps.registration.route(member.branch_code, body["to_branch_code"])
    plan = build_plan(deps.settings, route, deps.registration.path(route.receiving.branch))
    from_path = deps.registration.path(member.branch_code)
    now = utcnow()
    settings = deps.settings
    first_stage = plan.chain[0]
    transfer_id = new_id()
    with deps.database.transaction() as session:
        if session.scalar(select(Transfer.id).where(Transfer.open_member_id == member.id)):
            raise Conflict("the member already has an open transfer", field="member_id")
        transfer = Transfer(
            id=transfer_id,
            member_id=member.id,
            member_name=member.name,
            open_member_id=member.id,
            applicant=principal.sub,
            applicant_role=principal.role,
            reason=body["reason"],
            route=plan.route,
            from_branch_code=member.branch_code,
            to_branch_code=plan.to_branch_code,
            from_path=from_path,
            to_path=plan.to_path,
            status=domain.stage_status(first_stage),
            current_stage=first_stage,
            current_stage_org=plan.stage_orgs[first_stage],
            current_stage_path=domain.org_path(plan.stage_orgs[first_stage], from_path, plan.to_path),
            due_at=now + settings.stage_overdue_after,
            overdue=False,
            created_at=now,
            updated_at=now,
        )
        session.add(transfer)
        from services.transfer.activities import event_data, replace_stages

        replace_stages(session, transfer, plan.chain, plan.stage_orgs)
        session.add(
            TimelineEntry(
                transfer_id=transfer_id,
                at=now,
                stage=None,
                org_code=member.branch_code if principal.role == "branch_secretary" else None,
                actor=principal.sub,
                action="apply",
                reason=body["reason"],
            )
        )
        session.flush()
        outbox.add(
            session,
            events.REQUESTED,
            transfer_id,
            {**event_data(transfer), "reason": body["reason"], "applicant": principal.sub},
        )
        audit.record(session, audit_log, principal, "apply", "transfer", transfer_id)
    _start_workflow(deps, transfer, plan, member.dues_paid_through)
    return _full_view(deps.database, transfer_id)


def _workflow_input(
    deps: TransferDeps, transfer: Transfer, plan: Plan, dues: str | None, reissue: Reissue | None = None
) -> TransferInput:
    settings = deps.settings
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


def _start_run(deps: TransferDeps, workflow_input: TransferInput, status: str, stage_org: str | None) -> None:
    """Start a run of `transfer-<id>`, with the search attributes of the status it starts in."""
    pairs = [
        SearchAttributePair(search_attributes.TRANSFER_STATUS, status),
        SearchAttributePair(search_attributes.SENDING_BRANCH, workflow_input.from_branch_code),
        SearchAttributePair(search_attributes.RECEIVING_BRANCH, workflow_input.plan.to_branch_code),
    ]
    if stage_org:  # a letter waiting for the report-in is held by no org: leave the key unset
        pairs.append(SearchAttributePair(search_attributes.CURRENT_STAGE_ORG, stage_org))
    attributes = TypedSearchAttributes(pairs)

    async def start(client: Client) -> None:
        # The id makes the start idempotent: a retried request finds the running workflow (a
        # closed one, as after expiry, gets a new run).
        await client.start_workflow(
            TransferWorkflow.run,
            workflow_input,
            id=f"transfer-{workflow_input.transfer_id}",
            task_queue=deps.settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=attributes,
        )

    deps.temporal.call(start, timeout=15.0)


# How often, and how far apart, a start whose answer was lost is looked for before it is given up.
START_CONFIRM_ATTEMPTS = 3
START_CONFIRM_PAUSE_SECONDS = 1.0


def _workflow_started(deps: TransferDeps, transfer_id: str) -> bool:
    """Does `transfer-<id>` exist? A start whose answer was lost (a timeout) may have succeeded.

    Only "not found" is a definite no. A server too slow to answer the start is often too slow to
    answer at once, so an inconclusive answer is asked again a few times before giving up."""

    async def describe(client: Client) -> object:
        return await client.get_workflow_handle(f"transfer-{transfer_id}").describe()

    for attempt in range(START_CONFIRM_ATTEMPTS):
        if attempt:
            time.sleep(START_CONFIRM_PAUSE_SECONDS * attempt)
        try:
            deps.temporal.call(describe, timeout=10.0)
            return True
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
        except Exception:  # unreachable or slow: the start cannot be confirmed yet
            log.warning("could not yet tell whether transfer %s started", transfer_id)
    return False


def _start_workflow(deps: TransferDeps, transfer: Transfer, plan: Plan, dues: str | None) -> None:
    try:
        _start_run(
            deps, _workflow_input(deps, transfer, plan, dues), transfer.status, transfer.current_stage_org
        )
    except Exception as error:
        if _workflow_started(deps, transfer.id):
            # The process runs: failing the projection now would free the member for a second
            # transfer while this one goes on.
            log.warning("the start of transfer %s was not confirmed, but its workflow runs", transfer.id)
            return
        log.exception("could not start the workflow of transfer %s", transfer.id)
        # Never leave a projection with no process behind it: end it visibly and free the member.
        reason = f"the transfer process could not be started: {type(error).__name__}"
        with deps.database.transaction() as session:
            row = _load(session, transfer.id)
            row.status, row.current_stage, row.current_stage_org = domain.FAILED, None, None
            row.current_stage_path = None
            session.execute(delete(TransferStage).where(TransferStage.transfer_id == row.id))
            row.failure_reason, row.open_member_id, row.finished_at = reason, None, utcnow()
            session.flush()
            from services.transfer.activities import event_data

            outbox.add(session, events.FAILED, row.id, {**event_data(row), "reason": reason})
        raise Unavailable(reason) from error


def _start_reissue(deps: TransferDeps, transfer: Transfer, plan: Plan, dues: str | None, by: Reissue) -> None:
    """A new run of `transfer-<id>` (the expired run has closed); on failure the member is freed."""
    try:
        _start_run(deps, _workflow_input(deps, transfer, plan, dues, by), domain.LETTER_ISSUED, None)
    except Exception as error:
        log.exception("could not start the re-issue of transfer %s", transfer.id)
        with deps.database.transaction() as session:
            row = _load(session, transfer.id)
            if row.status == domain.EXPIRED:  # still expired: give the claim back
                row.open_member_id, row.finished_at = None, row.updated_at
        raise Unavailable(f"the letter could not be re-issued: {type(error).__name__}") from error


# How long /reissue waits for the new run to write its letter to the projection.
REISSUE_WAIT_SECONDS = 15.0


def reissue(
    deps: TransferDeps, principal: Principal, transfer_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """docs/domain.md step 6: an expired letter is re-issued (a new serial and validity, no approvals)."""
    current = _current(deps.database, transfer_id)
    sending_secretary = principal.role == "branch_secretary" and principal.org == current.from_branch_code
    if not (principal.is_admin or sending_secretary):
        raise Forbidden("only the sending branch's secretary may re-issue the letter")
    if current.status != domain.EXPIRED:
        raise Conflict(f"only an expired letter can be re-issued; the transfer is {current.status}")
    from_branch, to_branch, member_id = current.from_branch_code, current.to_branch_code, current.member_id
    route = deps.registration.route(from_branch, to_branch)
    plan = build_plan(deps.settings, route, deps.registration.path(to_branch))
    dues = deps.registration.member(member_id).dues_paid_through
    # Claim the member's one open transfer, as applying does: the unique open_member_id refuses a
    # second open transfer, and the conditions refuse a re-issue already under way.
    try:
        with deps.database.transaction() as session:
            if session.scalar(
                select(Transfer.id).where(Transfer.open_member_id == member_id, Transfer.id != transfer_id)
            ):
                raise Conflict("the member already has another open transfer", field="member_id")
            claimed = session.execute(
                update(Transfer)
                .where(
                    Transfer.id == transfer_id,
                    Transfer.status == domain.EXPIRED,
                    Transfer.open_member_id.is_(None),
                )
                .values(open_member_id=member_id, finished_at=None)
                .returning(Transfer.id)
            ).scalar_one_or_none()
            if claimed is None:
                raise Conflict("the letter of this transfer is already being re-issued")
            transfer = _load(session, transfer_id)
            audit.record(session, audit_log, principal, "reissue", "transfer", transfer_id)
    except IntegrityError as error:
        raise Conflict("the member already has another open transfer", field="member_id") from error
    _start_reissue(deps, transfer, plan, dues, Reissue(principal.sub, body.get("reason")))
    # The new run writes the letter in its first step: answer with the transfer as it then stands.
    deadline = time.monotonic() + REISSUE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if _current(deps.database, transfer_id).status != domain.EXPIRED:
            break
        time.sleep(0.1)
    return _full_view(deps.database, transfer_id)


def get(deps: TransferDeps, principal: Principal, transfer_id: str) -> dict[str, Any]:
    with deps.database.snapshot() as connection:
        transfer = _row(connection, transfer_id)
        if not _in_scope(principal, transfer):
            raise Forbidden("this transfer is outside your scope")
        return _view_with_timeline(connection, transfer)  # the same snapshot: one read, not two


def decide(
    deps: TransferDeps, principal: Principal, transfer_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    domain.check_decision(body["decision"], body.get("reason"))
    stage = _require_stage_holder(principal, _current(deps.database, transfer_id))
    request = DecisionRequest(
        body["decision"],
        principal.sub,
        body.get("reason"),
        expected_stage=stage,
        audit=_audit_item(principal, f"decide:{body['decision']}"),
    )
    _update(deps, transfer_id, TransferWorkflow.decide, request)
    return _full_view(deps.database, transfer_id)


def resubmit(
    deps: TransferDeps, principal: Principal, transfer_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    transfer = _current(deps.database, transfer_id)
    if not _is_applicant_side(principal, transfer):
        raise Forbidden("only the applicant's side (the member or the sending secretary) may resubmit")
    if transfer.status != domain.RETURNED:
        raise Conflict(f"only a returned transfer can be resubmitted; it is {transfer.status}")
    from_branch, to_branch = (
        transfer.from_branch_code,
        body.get("to_branch_code") or transfer.to_branch_code,
    )
    member_id = transfer.member_id
    domain.check_new_transfer(from_branch, to_branch)
    route = deps.registration.route(from_branch, to_branch)
    plan = build_plan(deps.settings, route, deps.registration.path(to_branch))
    dues = deps.registration.member(member_id).dues_paid_through
    _update(
        deps,
        transfer_id,
        TransferWorkflow.resubmit,
        ResubmitRequest(principal.sub, plan, body.get("reason"), dues, _audit_item(principal, "resubmit")),
    )
    return _full_view(deps.database, transfer_id)


def cancel(
    deps: TransferDeps, principal: Principal, transfer_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    transfer = _current(deps.database, transfer_id)
    if not (principal.is_admin or _is_applicant_side(principal, transfer)):
        raise Forbidden("only the member or the sending secretary may cancel")
    if not domain.is_open(transfer.status):
        raise Conflict(f"the transfer can no longer be cancelled: it is {transfer.status}")
    request = CancelRequest(principal.sub, body["reason"], _audit_item(principal, "cancel"))
    _update(deps, transfer_id, TransferWorkflow.cancel, request)
    return _full_view(deps.database, transfer_id)


def report(deps: TransferDeps, principal: Principal, transfer_id: str) -> dict[str, Any]:
    transfer = _current(deps.database, transfer_id)
    allowed = (
        principal.is_admin
        or (principal.role == "member" and principal.sub == transfer.member_id)
        or (principal.role == "branch_secretary" and principal.org == transfer.to_branch_code)
    )
    if not allowed:
        raise Forbidden("only the member or the receiving branch's secretary may report in")
    if transfer.status != domain.LETTER_ISSUED:
        raise Conflict(f"report-in needs an issued letter; the transfer is {transfer.status}")
    # The update returns once the relationship has moved (or the move was refused).
    request = ReportRequest(principal.sub, _audit_item(principal, "report"))
    _update(deps, transfer_id, TransferWorkflow.report, request, timeout=60.0)
    return _full_view(deps.database, transfer_id)


def _audit_item(principal: Principal, action: str) -> AuditItem:
    """The caller's action for the workflow to audit with the step that applies it: an applied
    action is audited in the same transaction as its effect, and a refused one not at all."""
    return AuditItem(principal.sub, principal.role, action, current_request_id())


# --- lists and counts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose boxes are read: one org, or (with `path`) every org at or under it."""

    org: str
    path: str | None = None


def _box_org(deps: TransferDeps, principal: Principal, org: str | None) -> str:
    """The org whose boxes are read: the caller's own, or one in its subtree (admin: any)."""
    if org is None or org == principal.org:
        return principal.org
    if principal.is_admin or principal.is_service:
        return org
    if principal.role in ORG_ROLES and deps.registration.orgs.in_subtree(org, principal.org):
        return org
    raise Forbidden(f"{org} is outside your scope")


def _subtree(deps: TransferDeps, org: str) -> Scope:
    """The subtree scope of `org`, from its materialized path in registration (cached there).

    An org registration does not know is on no transfer's path: only rows naming it count."""
    info = deps.registration.orgs.get(org)
    return Scope(org, "/" + "/".join(info.path) + "/" if info else None)


def _under(column: Any, path: str) -> ColumnElement[bool]:
    low, high = domain.subtree_range(path)
    return and_(column >= low, column < high)


def _not(condition: ColumnElement[bool], column: Any) -> ColumnElement[bool]:
    # NOT over a NULL column is NULL, which would drop the row: say what NULL means here.
    return or_(column.is_(None), not_(condition))


def _on_timeline(org: str) -> ColumnElement[bool]:
    return exists().where(TimelineEntry.transfer_id == Transfer.id, TimelineEntry.org_code == org)


def _holds(scope: Scope) -> ColumnElement[bool]:
    """The open stage is held by the scope's org (or, for a subtree, by one under it)."""
    if scope.path is None:
        return Transfer.current_stage_org == scope.org
    return _under(Transfer.current_stage_path, scope.path)


def _waiting_elsewhere(scope: Scope) -> ColumnElement[bool]:
    column = Transfer.current_stage_org if scope.path is None else Transfer.current_stage_path
    return _not(_holds(scope), column)


def _stage_held(scope: Scope) -> ColumnElement[bool]:
    if scope.path is None:
        return TransferStage.org_code == scope.org
    return _under(TransferStage.org_path, scope.path)


def _ahead(scope: Scope) -> ColumnElement[bool]:
    """A stage of the current plan held within the scope and not decided yet (IN, like _acted:
    SQLite drives a correlated EXISTS from a scan of transfers)."""
    ids = select(TransferStage.transfer_id).where(_stage_held(scope), TransferStage.decided_at.is_(None))
    return Transfer.id.in_(ids)


def _acted(scope: Scope) -> ColumnElement[bool]:
    """The scope has done its step: decided a stage of the current plan, or applied (a sending
    secretary). One IN over a UNION, so each half walks its own index (an OR scans the table)."""
    applicant = aliased(Transfer)
    sending = (
        applicant.from_branch_code == scope.org
        if scope.path is None
        else _under(applicant.from_path, scope.path)
    )
    ids = union(
        select(TransferStage.transfer_id).where(_stage_held(scope), TransferStage.decided_at.is_not(None)),
        # finished_at IS NULL (open) narrows the (from_path, finished_at) index range.
        select(applicant.id).where(
            sending, applicant.finished_at.is_(None), applicant.applicant_role == "branch_secretary"
        ),
    )
    return Transfer.id.in_(ids)


def _involved(scope: Scope) -> ColumnElement[bool]:
    if scope.path is None:
        org = scope.org
        return or_(_on_timeline(org), Transfer.from_branch_code == org, Transfer.to_branch_code == org)
    # Every stage holder sits on the sending path or is the receiving branch.
    return or_(_under(Transfer.from_path, scope.path), _under(Transfer.to_path, scope.path))


def _box_condition(principal: Principal, scope: Scope, box: str) -> ColumnElement[bool]:
    """The boxes are disjoint for an org: todo, then pending, then coming; done once finished."""
    finished = Transfer.status.in_(domain.TERMINAL)
    if principal.role == "member":
        mine = Transfer.member_id == principal.sub
        if box == "todo":
            return and_(mine, Transfer.status.in_((domain.RETURNED, domain.LETTER_ISSUED)))
        if box == "pending":
            return and_(mine, ~finished, Transfer.status.notin_((domain.RETURNED, domain.LETTER_ISSUED)))
        if box == "coming":
            return false()  # a member holds no stage
        return and_(mine, finished)
    if box == "todo":
        return _holds(scope)
    if box == "done":
        return and_(finished, _involved(scope))
    if box == "pending":
        return and_(~finished, _waiting_elsewhere(scope), _acted(scope))
    return and_(~finished, _waiting_elsewhere(scope), not_(_acted(scope)), _ahead(scope))


def list_transfers(deps: TransferDeps, principal: Principal, query: dict[str, Any]) -> dict[str, Any]:
    org = _box_org(deps, principal, query.get("org"))
    subtree = query.get("scope") == "subtree" and principal.role != "member"
    scope = _subtree(deps, org) if subtree else Scope(org)
    after = decode_cursor(query.get("cursor"))
    limit = query["limit"]
    with deps.database.reader() as session:
        statement = select(Transfer).where(_box_condition(principal, scope, query["box"]))
        if query.get("status"):
            statement = statement.where(Transfer.status == query["status"])
        if after:
            statement = statement.where(Transfer.id < after[0])
        rows = session.scalars(statement.order_by(Transfer.id.desc()).limit(limit + 1)).all()
        result = page(rows, limit, key=lambda row: (row.id,))
        result["items"] = [transfer_view(row) for row in result["items"]]
        return result


def stats(deps: TransferDeps, principal: Principal, org: str | None) -> dict[str, int]:
    """A dashboard counts the org's whole subtree (a county sees its townships' stages)."""
    if principal.role == "member":
        raise Forbidden("members have no transfer dashboard")
    scope = _subtree(deps, _box_org(deps, principal, org))
    year_start = datetime(utcnow().year, 1, 1, tzinfo=UTC)
    completed_this_year = and_(Transfer.status == domain.COMPLETED, Transfer.finished_at >= year_start)
    if scope.path is None:
        arrived, left = Transfer.to_branch_code == scope.org, Transfer.from_branch_code == scope.org
    else:
        arrived, left = _under(Transfer.to_path, scope.path), _under(Transfer.from_path, scope.path)
    with deps.database.reader() as session:

        def count(condition: ColumnElement[bool]) -> int:
            return session.scalar(select(func.count()).select_from(Transfer).where(condition)) or 0

        return {
            "todo": count(_holds(scope)),
            "overdue": count(and_(_holds(scope), Transfer.overdue.is_(True))),
            "in_this_year": count(and_(completed_this_year, arrived)),
            "out_this_year": count(and_(completed_this_year, left)),
            "pending": count(_box_condition(principal, scope, "pending")),
            "coming": count(_box_condition(principal, scope, "coming")),
        }


__all__ = [
    "TransferDeps",
    "apply",
    "get",
    "decide",
    "resubmit",
    "cancel",
    "report",
    "reissue",
    "list_transfers",
    "stats",
]
