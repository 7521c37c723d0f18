"""Use cases of mobility: outflows (凡出必报), inflows (凡进必登), relationship moves, lost contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError

from services.registration import domain
from services.registration.commands.common import (
    branch_or_422,
    bump_version,
    member_event,
    member_for,
    member_or_404,
)
from services.registration.models import Inflow, Member, Outflow, RelationshipMove
from services.registration.queries import MemberRecord
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.auth import ORG_ROLES, Principal
from shared.contracts.registration import (
    INFLOW_REGISTERED,
    MEMBER_LOST_CONTACT,
    OUTFLOW_REGISTERED,
    RELATIONSHIP_MOVED,
)
from shared.db import new_id
from shared.errors import Conflict, Forbidden, InvalidInput

# --- outflows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterOutflow:
    member_id: str
    destination_region: str
    destination_address: str
    occupation: str
    departed_on: date
    reason: str
    contact_phone: str
    employer: str | None = None
    expected_return_on: date | None = None


def register_outflow(uow: RegistrationUnitOfWork, actor: Principal, command: RegisterOutflow) -> Outflow:
    """凡出必报: the home branch registers the departure and issues an activity card."""
    now = clock.utcnow()
    today = clock.local_today(now)
    with uow:
        member = member_for(uow.members, actor, command.member_id, "register an outflow of")
        if uow.mobility.open_outflow(member.id) is not None:
            # One open outflow, one live activity card (a race is settled by a unique index).
            raise Conflict("the member already has an open outflow; record their return first")
        domain.check_contact_phone(command.contact_phone)
        domain.check_outflow_dates(command.departed_on, command.expected_return_on, today)
        branch = uow.orgs.get(member.branch_code)
        assert branch is not None
        county = domain.card_issuer(uow.orgs.levels_of(branch))
        # Cards are numbered per year as counted in China (1 January starts at 00:00 there).
        number = uow.mobility.next_card_number(county, today.year)
        outflow = Outflow(
            id=new_id(),
            member_id=member.id,
            branch_code=member.branch_code,
            county_code=county,
            activity_card_no=domain.activity_card_no(county, today.year, number),
            destination_region=command.destination_region,
            destination_address=command.destination_address,
            occupation=command.occupation,
            employer=command.employer,
            departed_on=command.departed_on,
            expected_return_on=command.expected_return_on,
            reason=command.reason,
            contact_phone=command.contact_phone,
            recorded_by=actor.sub,
            created_at=now,
        )
        uow.mobility.add_outflow(outflow)
        _follow_outflow(member, outflow)
        uow.emit(
            OUTFLOW_REGISTERED,
            member.id,
            {
                **member_event(member),
                "outflow_id": outflow.id,
                "activity_card_no": outflow.activity_card_no,
                "destination_region": outflow.destination_region,
                "destination_address": outflow.destination_address,
                "departed_on": outflow.departed_on.isoformat(),
                "expected_return_on": outflow.expected_return_on.isoformat()
                if outflow.expected_return_on
                else None,
            },
        )
        uow.audit(actor, "create", "outflow", outflow.id)
        uow.commit()
        return outflow


def _follow_outflow(member: Member, outflow: Outflow) -> None:
    """The member is mobile, and the six facts follow the latest registration."""
    member.mobile = True
    member.occupation = outflow.occupation
    member.employer = outflow.employer
    member.current_address = outflow.destination_address
    member.departed_on = outflow.departed_on
    member.contact_phone = outflow.contact_phone
    member.activity_card_no = outflow.activity_card_no
    member.destination_region = outflow.destination_region
    bump_version(member)


# --- inflows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterInflow:
    member_id: str
    branch_code: str
    arrived_on: date
    current_address: str
    occupation: str
    employer: str | None = None
    contact_person: str | None = None
    activity_card_no: str | None = None


def _arriving_member(uow: RegistrationUnitOfWork, actor: Principal, command: RegisterInflow) -> Member:
    """The member whose arrival `actor` may record. A member records their own; a secretary or
    officer (who may not read the member) proves the arrival with the card of the member's open
    outflow, and a missing member answers exactly as a wrong card does (no existence oracle)."""
    member = uow.members.get(command.member_id)
    if actor.role == "member":
        if member is None or actor.sub != member.id:
            raise Forbidden("a member registers only their own inflow")
        return member
    if actor.role not in ORG_ROLES:  # admin, service: they read any member anyway
        return member_or_404(uow.members, command.member_id)
    card = command.activity_card_no
    if not card:
        raise InvalidInput(
            "activity_card_no is required: the card of the member's open outflow", field="activity_card_no"
        )
    away = uow.mobility.open_outflow(member.id) if member is not None else None
    if member is None or not domain.card_matches(
        away is not None, away.activity_card_no if away else None, card
    ):
        raise InvalidInput(
            "activity_card_no does not match an open outflow of this member", field="activity_card_no"
        )
    return member


def register_inflow(uow: RegistrationUnitOfWork, actor: Principal, command: RegisterInflow) -> Inflow:
    """凡进必登: the inflow branch registers the arrival and names a contact person."""
    now = clock.utcnow()
    with uow:
        branch = branch_or_422(uow.orgs, command.branch_code, "branch_code")
        if actor.role != "member":
            domain.require_scope(actor, branch.path, "register inflows")
        # "Today" in China: at 01:00 in Beijing the server's UTC date is still yesterday.
        if command.arrived_on > clock.local_today(now):
            raise InvalidInput("arrived_on cannot be in the future", field="arrived_on")
        member = _arriving_member(uow, actor, command)
        # An arrival elsewhere ends the inflow before it: one branch manages the member at a time.
        uow.mobility.end_inflows(member.id, command.arrived_on)
        inflow = Inflow(
            id=new_id(),
            member_id=member.id,
            branch_code=branch.code,
            home_branch_code=member.branch_code,
            arrived_on=command.arrived_on,
            current_address=command.current_address,
            occupation=command.occupation,
            employer=command.employer,
            contact_person=command.contact_person,
            recorded_by=actor.sub,
            created_at=now,
        )
        uow.mobility.add_inflow(inflow)
        if branch.code != member.branch_code:
            member.mobile = True
        member.inflow_branch_code = branch.code
        member.inflow_branch_path = branch.path
        member.arrived_on = inflow.arrived_on
        member.current_address = inflow.current_address
        member.occupation = inflow.occupation
        member.employer = inflow.employer
        bump_version(member)
        uow.emit(
            INFLOW_REGISTERED,
            member.id,
            {
                **member_event(member, branch.path),
                "branch_code": branch.code,
                "inflow_id": inflow.id,
                "home_branch_code": member.branch_code,
                "arrived_on": inflow.arrived_on.isoformat(),
                "contact_person": inflow.contact_person,
            },
        )
        uow.audit(actor, "create", "inflow", inflow.id, "by card" if command.activity_card_no else None)
        uow.commit()
        return inflow


# --- relationship moves (for the transfer service) ----------------------------------------


@dataclass(frozen=True)
class MoveRelationship:
    member_id: str
    branch_code: str
    transfer_id: str


def move_relationship(
    uow: RegistrationUnitOfWork, actor: Principal, command: MoveRelationship
) -> MemberRecord:
    """Move a member's relationship to another branch; idempotent by transfer_id. The answer is
    masked: the mover needs the new branch, never the member's ID or phone numbers."""
    if not actor.is_service:
        raise Forbidden("only a service may move a relationship")
    try:
        return _move(uow, actor, command)
    except IntegrityError:
        # A concurrent request with the same transfer_id won the insert: answer as a replay would.
        with uow:
            replay = _replay(uow, command)
        if replay is not None:
            return replay
        raise Conflict(
            f"transfer {command.transfer_id} conflicts with another move", field="transfer_id"
        ) from None


def _replay(uow: RegistrationUnitOfWork, command: MoveRelationship) -> MemberRecord | None:
    """The answer to a move already made by this transfer, None if none was; a Conflict if the
    transfer moved another member or to another branch."""
    earlier = uow.moves.get(command.transfer_id)
    if earlier is None:
        return None
    member = member_or_404(uow.members, command.member_id)
    if earlier.member_id != member.id or earlier.to_branch_code != command.branch_code:
        raise Conflict(
            f"transfer {command.transfer_id} already moved a relationship elsewhere", field="transfer_id"
        )
    return MemberRecord.of(member, full=False)


def _move(uow: RegistrationUnitOfWork, actor: Principal, command: MoveRelationship) -> MemberRecord:
    with uow:
        member = member_or_404(uow.members, command.member_id)
        replay = _replay(uow, command)
        if replay is not None:
            return replay
        branch = branch_or_422(uow.orgs, command.branch_code, "branch_code")
        from_branch = member.branch_code
        uow.moves.add(
            RelationshipMove(
                transfer_id=command.transfer_id,
                member_id=member.id,
                from_branch_code=from_branch,
                to_branch_code=branch.code,
                moved_at=clock.utcnow(),
            )
        )
        member.branch_code = branch.code
        member.branch_path = branch.path
        # A formal transfer ends the mobile state: the member now belongs where they live, and
        # neither the old outflow nor an inflow stays open.
        today = clock.local_today()
        away = uow.mobility.open_outflow(member.id)
        if away is not None:
            uow.mobility.close_outflow(away, max(today, away.departed_on), "moved", actor.sub)
        uow.mobility.end_inflows(member.id, today)
        member.mobile = False
        member.inflow_branch_code = None
        member.inflow_branch_path = None
        bump_version(member)
        uow.emit(
            RELATIONSHIP_MOVED,
            member.id,
            {**member_event(member), "transfer_id": command.transfer_id, "from_branch_code": from_branch},
        )
        uow.audit(actor, "move_relationship", "member", member.id, command.transfer_id)
        uow.commit()
        # After the commit: the version counted in SQL is read back now.
        return MemberRecord.of(member, full=False)


# --- the lost-contact sweep ---------------------------------------------------------------

SWEEP_ACTOR = Principal(sub="svc:registration-sweep", role="service", org=domain.ROOT_CODE)


@dataclass(frozen=True)
class SweepLostContact:
    lost_contact_days: int
    now: datetime | None = None
    batch: int = 500


def sweep_lost_contact(uow: RegistrationUnitOfWork, actor: Principal, command: SweepLostContact) -> int:
    """Flag members whose last contact is older than the limit; one event per lapse.

    The flag itself makes it once per lapse: only members not yet flagged are picked, and a
    check-in clears the flag. Batches keep each transaction short. Returns how many were flagged.
    The actor is the sweep (SWEEP_ACTOR) when the daily schedule runs it.
    """
    now = command.now or clock.utcnow()
    cutoff = domain.contact_cutoff(now, command.lost_contact_days)
    flagged = 0
    while True:
        with uow:
            members = uow.members.out_of_contact(cutoff, command.batch)
            for member in members:
                member.lost_contact = True
                # The lost episode begins (its China date): the suspension-due clock runs from here.
                member.lost_contact_since = clock.local_today(now)
                bump_version(member)
                uow.emit(
                    MEMBER_LOST_CONTACT,
                    member.id,
                    {
                        **member_event(member),
                        "last_contact_at": member.last_contact_at.isoformat()
                        if member.last_contact_at
                        else None,
                        "lost_contact_days": command.lost_contact_days,
                    },
                )
                uow.audit(actor, "flag_lost_contact", "member", member.id)
            uow.commit()
        flagged += len(members)
        if len(members) < command.batch:
            return flagged
