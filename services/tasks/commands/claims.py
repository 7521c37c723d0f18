"""Use cases of claims: a member claims (认诺), an officer assigns, either withdraws.

The place is taken by the repository's conditional UPDATE (capacity, status and the lead in
one statement); the claim row, its event and its audit follow at commit, as one statement on
PostgreSQL (the unit of work's write_with_commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from services.tasks import access, domain
from services.tasks.commands._common import emit_task_event, load_task
from services.tasks.domain import CLAIMABLE
from services.tasks.models import Task
from services.tasks.repositories import ClaimedTask
from services.tasks.unit_of_work import TaskReads, TasksUnitOfWork
from shared.auth import Principal
from shared.contracts import tasks as events
from shared.db import new_id, utcnow
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.orgs import OrgInfo


@dataclass(frozen=True)
class ClaimTask:
    task_id: str
    commitment: str


@dataclass(frozen=True)
class AssignMember:
    task_id: str
    member_id: str
    commitment: str | None = None


@dataclass(frozen=True)
class WithdrawClaim:
    task_id: str
    member_id: str


@dataclass(frozen=True)
class ClaimPlaced:
    """A place taken on a task, by a claim or an assignment (the 201 of both)."""

    task_id: str
    member_id: str
    lead: bool
    commitment: str | None
    claimed_at: datetime
    branch_code: str
    assigned_by: str | None
    task_status: str


@dataclass(frozen=True)
class _Placement:
    """Who takes a place on which task, from which branch, on whose word."""

    task_id: str
    member_id: str
    branch: OrgInfo
    commitment: str | None
    assigned_by: str | None  # None: the member claims it themself
    member_name: str | None = None


def claim_task(uow: TasksUnitOfWork, actor: Principal, command: ClaimTask) -> ClaimPlaced:
    if actor.role != "member":
        raise Forbidden("only a member claims a task; officers assign members")
    branch = access.branch_of(uow.orgs, actor)
    placement = _Placement(
        command.task_id, actor.sub, branch, command.commitment, assigned_by=None, member_name=actor.name
    )
    return _add_claimant(uow, actor, placement)


def assign_member(uow: TasksUnitOfWork, actor: Principal, command: AssignMember) -> ClaimPlaced:
    if actor.role not in access.OFFICER_ROLES and not actor.is_admin:
        raise Forbidden("only an officer assigns members")
    with uow.reading() as reads:
        task = load_task(reads, command.task_id)
        already = reads.claims.held(task.id, command.member_id)
        domain.check_assign(access.standing_of(uow.orgs, reads, actor, task), command.member_id, already)
    member = uow.members.member_of(command.member_id)
    if member is None:
        raise InvalidInput(f"member {command.member_id} does not exist", field="member_id")
    branch = access.org_of(uow.orgs, member.branch_code, "member_id")
    placement = _Placement(
        command.task_id, command.member_id, branch, command.commitment, actor.sub, member.name
    )
    return _add_claimant(uow, actor, placement)


def _add_claimant(uow: TasksUnitOfWork, actor: Principal, placement: _Placement) -> ClaimPlaced:
    if uow.single_writer:
        # SQLite has one writer at a time: refuse on a snapshot first, without the write lock,
        # so that a rush on a full task does not queue behind it. (PostgreSQL's conditional
        # UPDATE refuses a full task without waiting on anything.)
        with uow.reading() as reads:
            _explain_refusal(uow.orgs, reads, placement, before_update=True)
    with uow:
        task = _take_place(uow, placement)
        placed = _record_claim(uow, actor, placement, task)
        try:
            uow.commit()  # the claim row, its event and its audit: one statement on PostgreSQL
        except IntegrityError as error:  # the unique (task, member): a claim that raced ours
            raise Conflict(f"member {placement.member_id} has already claimed this task") from error
    return placed


def _take_place(uow: TasksUnitOfWork, placement: _Placement) -> ClaimedTask:
    """The atomic part: a place is taken, or the reason it cannot be is raised."""
    task = uow.tasks.add_claimant(placement.task_id, placement.member_id)
    if task is None:
        _explain_refusal(uow.orgs, uow, placement, before_update=False)
        raise Conflict("this task cannot be claimed now; try again")
    if not access.visible(task, placement.branch):
        raise Forbidden(access.not_open_message(placement.member_id, placement.assigned_by))
    # The UPDATE appended the member to the claimants: named before, it is a repeat claim.
    # Refused here, before the lead is counted (a repeat by the lead is no new lead).
    if placement.member_id in task.claimant_ids[:-1]:
        raise Conflict(f"member {placement.member_id} has already claimed this task")
    return task


def _record_claim(
    uow: TasksUnitOfWork, actor: Principal, placement: _Placement, task: ClaimedTask
) -> ClaimPlaced:
    """The lead count, the claim row, its event and its audit, for a place just taken."""
    becomes_lead = task.lead_member_id == placement.member_id
    if becomes_lead and not uow.leads.take(placement.member_id):
        raise Conflict(f"a member may lead at most {uow.leads.cap} open tasks at once")
    placed = ClaimPlaced(
        task_id=placement.task_id,
        member_id=placement.member_id,
        lead=becomes_lead,
        commitment=placement.commitment,
        claimed_at=utcnow(),
        branch_code=placement.branch.code,
        assigned_by=placement.assigned_by,
        task_status=task.status,
    )
    row = {
        "id": new_id(),
        **{key: getattr(placed, key) for key in ("task_id", "member_id", "commitment", "assigned_by")},
        **{"branch_code": placement.branch.code, "branch_path": domain.scope_prefix(placement.branch.path)},
        "claimed_at": placed.claimed_at,
    }
    uow.write_with_commit(uow.claims.pending(row))
    uow.emit(
        events.TASK_CLAIMED,
        placement.task_id,
        {
            "task_id": placement.task_id,
            **{key: getattr(task, key) for key in ("title", "org_code", "officer_id", "status")},
            "lead_member_id": task.lead_member_id,
            "claimant_ids": task.claimant_ids,
            "member_id": placement.member_id,
            "member_name": placement.member_name,
            "lead": becomes_lead,
            "commitment": placement.commitment,
            "assigned_by": placement.assigned_by,
        },
    )
    uow.audit(actor, "assign" if placement.assigned_by else "claim", "task", placement.task_id)
    return placed


def _explain_refusal(
    orgs: access.OrgLookup,
    repositories: TasksUnitOfWork | TaskReads,
    placement: _Placement,
    before_update: bool,
) -> None:
    """Raise the reason a claim is refused (404, 403, 409), in that order of precedence: the
    rule of a claim (domain.check_claim), applied to the member who takes the place."""
    task = load_task(repositories, placement.task_id)
    member = Principal(sub=placement.member_id, role="member", org=placement.branch.code)
    standing = access.standing_of(orgs, repositories, member, task)
    domain.check_claim(standing, access.not_open_message(placement.member_id, placement.assigned_by))
    if not before_update:
        raise Conflict("this task cannot be claimed now; try again")


def withdraw_claim(uow: TasksUnitOfWork, actor: Principal, command: WithdrawClaim) -> Task:
    """The claimant withdraws, or an officer removes them; the earliest remaining leads."""
    member_id = command.member_id
    with uow:
        task = load_task(uow, command.task_id, lock=True)
        is_self = actor.role == "member" and actor.sub == member_id
        claim = uow.claims.get(task.id, member_id)
        domain.check_withdraw(access.standing_of(uow.orgs, uow, actor, task), member_id, claim is not None)
        assert claim is not None  # check_withdraw refuses a member who holds no claim
        uow.claims.delete(claim)
        remaining = [claim.member_id for claim in uow.claims.of_task(task.id)]
        lead = _hand_over_lead(uow, task, member_id, remaining)
        if not uow.tasks.remove_claimant(task, remaining, lead):
            domain.require_status(task.status, CLAIMABLE, "withdraw from")
            raise Conflict("cannot withdraw from this task now; try again")
        removed_by = None if is_self else actor.sub
        # The member's own token names them; an officer's removal does not fetch the member.
        member_name = actor.name if is_self else None
        emit_task_event(
            uow,
            events.CLAIM_WITHDRAWN,
            task,
            member_id=member_id,
            member_name=member_name,
            removed_by=removed_by,
        )
        uow.audit(actor, "withdraw", "task", task.id, detail=member_id)
        uow.commit()
    return task


def _hand_over_lead(uow: TasksUnitOfWork, task: Task, leaving: str, remaining: list[str]) -> str | None:
    """The task's lead once `leaving` is gone: unchanged, or the earliest remaining claimant."""
    if task.lead_member_id != leaving:
        return task.lead_member_id
    uow.leads.release(leaving)
    new_lead = remaining[0] if remaining else None
    if new_lead is not None:
        uow.leads.promote(new_lead)
    return new_lead
