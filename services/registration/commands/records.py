"""Use cases of the ledger as secretaries keep it: editing a member record (If-Match), recording
dues payments, and a member's return (the end of a mobility)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.registration import domain
from services.registration.commands.common import bump_version, member_event, member_for
from services.registration.models import DuesPayment, Member
from services.registration.queries import MemberRecord, open_outflow_view
from services.registration.regions import region_name
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.auth import ORG_ROLES, Principal
from shared.contracts.registration import DUES_RECORDED, MEMBER_RETURNED, MEMBER_UPDATED
from shared.db import new_id
from shared.errors import Conflict, Forbidden, InvalidInput, PreconditionFailed


def actor_fields(actor: Principal) -> dict[str, Any]:
    """Who acted, as every event with an acting person carries it (docs: events of this round)."""
    return {"actor": actor.sub, "actor_name": actor.name, "actor_org_code": actor.org}


# --- PATCH /members/{id} ------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateMember:
    member_id: str
    # The If-Match header as sent (None when absent).
    if_match: str | None
    # Field name → wanted value; the six facts as `six_facts.<name>`.
    changes: dict[str, Any] = field(default_factory=dict)


def _current_values(member: Member) -> dict[str, Any]:
    return {name: getattr(member, _column(name)) for name in domain.STAFF_PATCHABLE}


def _column(name: str) -> str:
    return name.removeprefix("six_facts.")


def update_member(uow: RegistrationUnitOfWork, actor: Principal, command: UpdateMember) -> MemberRecord:
    """Change a member record where it still is the version the caller read: the UPDATE itself is
    conditional on the version, so a stale ETag never overwrites, however the requests interleave."""
    today = clock.local_today()
    with uow:
        member = member_for(uow.members, actor, command.member_id, "edit")
        domain.check_patch_fields(actor.role == "member", set(command.changes))
        version = domain.expected_version(command.if_match)
        if version != member.version:
            raise PreconditionFailed("the member was changed since you read it; read it again")
        problems = domain.member_problems(
            {"id_number": member.id_number, "birth_date": command.changes.get("birth_date")}, today
        )
        if problems:
            raise InvalidInput(problems[0][1], field=problems[0][0])
        changed = domain.changed_fields(_current_values(member), command.changes)
        if changed:
            values = {_column(name): command.changes[name] for name in changed}
            if not uow.members.update_if_version(member, version, values):
                raise PreconditionFailed("the member was changed since you read it; read it again")
            uow.emit(
                MEMBER_UPDATED,
                member.id,
                {**member_event(member), "fields": changed, "actor_role": actor.role, **actor_fields(actor)},
            )
            uow.audit(actor, "update", "member", member.id, ",".join(changed))
        uow.audit(actor, "read_full", "member", member.id)
        record = MemberRecord.of(member, full=True, open_outflow=open_outflow_view(uow.mobility, member.id))
        uow.commit()
        return record


# --- dues ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordDues:
    member_id: str
    paid_through: str
    amount: str
    paid_on: date | None = None


def record_dues(uow: RegistrationUnitOfWork, actor: Principal, command: RecordDues) -> DuesPayment:
    """A dues payment: the member's dues_paid_through moves forward to the month paid through."""
    now = clock.utcnow()
    today = clock.local_today(now)
    with uow:
        if actor.role not in ORG_ROLES and not actor.is_admin:
            raise Forbidden("a secretary of the member's branch or above records dues")
        member = member_for(uow.members, actor, command.member_id, "record dues of")
        amount = domain.dues_amount(command.amount)
        paid_on = command.paid_on or today
        domain.check_paid_on(paid_on, today)
        domain.check_dues_month(command.paid_through, member.dues_paid_through, today)
        if not uow.members.advance_dues(member, command.paid_through):
            raise Conflict(f"dues are already paid through {member.dues_paid_through}", field="paid_through")
        payment = DuesPayment(
            id=new_id(),
            member_id=member.id,
            paid_through=command.paid_through,
            amount=amount,
            paid_on=paid_on,
            recorded_by=actor.sub,
            created_at=now,
        )
        uow.dues.add(payment)
        uow.emit(
            DUES_RECORDED,
            member.id,
            {
                **member_event(member),
                "dues_id": payment.id,
                "paid_through": payment.paid_through,
                "amount": f"{amount:.2f}",
                "paid_on": paid_on.isoformat(),
                **actor_fields(actor),
            },
        )
        uow.audit(actor, "create", "dues_payment", payment.id)
        uow.commit()
        return payment


# --- returns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordReturn:
    member_id: str
    returned_on: date
    note: str | None = None


def record_return(uow: RegistrationUnitOfWork, actor: Principal, command: RecordReturn) -> dict[str, Any]:
    """The member is back: the open outflow closes, an open inflow ends, `mobile` becomes false."""
    with uow:
        member = member_for(uow.members, actor, command.member_id, "record the return of")
        outflow = uow.mobility.open_outflow(member.id)
        if outflow is None:
            raise Conflict("the member has no open outflow to return from")
        domain.check_returned_on(command.returned_on, outflow.departed_on, clock.local_today())
        if not uow.mobility.close_outflow(outflow, command.returned_on, "returned", actor.sub, command.note):
            raise Conflict("the member has no open outflow to return from")
        uow.mobility.end_inflows(member.id, command.returned_on)
        end_mobility(member)
        uow.emit(
            MEMBER_RETURNED,
            member.id,
            {
                **member_event(member),
                "outflow_id": outflow.id,
                "activity_card_no": outflow.activity_card_no,
                "returned_on": command.returned_on.isoformat(),
                "destination_region": outflow.destination_region,
                "destination_region_name": region_name(outflow.destination_region) or None,
                **actor_fields(actor),
            },
        )
        uow.audit(actor, "return", "outflow", outflow.id)
        uow.commit()
        return {
            "outflow_id": outflow.id,
            "member_id": member.id,
            "activity_card_no": outflow.activity_card_no,
            "returned_on": command.returned_on,
            "note": command.note,
            "mobile": False,
        }


def end_mobility(member: Member) -> None:
    """The member is no longer away: not mobile, no open inflow (its branch no longer manages them)."""
    member.mobile = False
    member.inflow_branch_code = None
    member.inflow_branch_path = None
    bump_version(member)
