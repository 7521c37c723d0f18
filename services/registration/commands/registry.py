"""Use cases of the register itself: orgs, members, check-ins, the ledger export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from services.registration import domain
from services.registration.commands.common import branch_or_422, bump_version, member_event, require_branch
from services.registration.models import Checkin, Member, Org
from services.registration.queries import MemberRecord, scope_path
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.audit import OrgScope
from shared.auth import Principal
from shared.contracts.registration import MEMBER_CHECKED_IN, MEMBER_CREATED, ORG_CREATED
from shared.db import new_id
from shared.errors import Conflict, Forbidden, InvalidInput

# --- orgs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateOrg:
    code: str
    name: str
    level: str
    parent_code: str | None
    region: str | None = None


def create_org(uow: RegistrationUnitOfWork, actor: Principal, command: CreateOrg) -> Org:
    if actor.role not in ("admin", "org_department"):
        raise Forbidden("only an admin or an org department may create orgs")
    with uow:
        if uow.orgs.get(command.code) is not None:
            raise Conflict(f"org {command.code} already exists", field="code")
        parent = uow.orgs.get(command.parent_code) if command.parent_code else None
        if command.parent_code and parent is None:
            raise InvalidInput(f"parent org {command.parent_code} does not exist", field="parent_code")
        domain.check_org_placement(command.level, parent.level if parent else None)
        assert parent is not None
        domain.require_scope(actor, parent.path, "create orgs")
        org = Org(
            code=command.code,
            name=command.name,
            level=command.level,
            parent_code=parent.code,
            path=f"{parent.path}{command.code}/",
            region=command.region,
            created_at=clock.utcnow(),
        )
        uow.orgs.add(org)
        uow.emit(
            ORG_CREATED,
            org.code,
            {
                "code": org.code,
                "name": org.name,
                "level": org.level,
                "parent_code": org.parent_code,
                "path": org.path_codes,
            },
        )
        uow.audit(actor, "create", "org", org.code)
        uow.commit()
        return org


# --- members ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateMember(domain.NewMember):
    """The member record as registered (the fields of domain.NewMember)."""


def new_member_row(
    candidate: domain.NewMember, branch: Org, now: datetime, id_hash_key: str
) -> dict[str, object]:
    """The columns of a member registered now: in contact, not mobile, version 1, normal standing,
    with the keyed hash of the ID number the exact search looks up."""
    return {
        **asdict(candidate),
        "id_number_hash": domain.id_number_hash(candidate.id_number, id_hash_key),
        "standing": "normal",
        "id": new_id(),
        "branch_path": branch.path,
        "mobile": False,
        "lost_contact": False,
        "last_contact_at": now,
        "created_at": now,
        "version": 1,
    }


def member_created(member_id: str, member_name: str, branch: Org) -> dict[str, object]:
    return {
        "member_id": member_id,
        "member_name": member_name,
        "branch_code": branch.code,
        "branch_path": branch.path_codes,
    }


# One answer wherever the member is registered, in the caller's scope or not (no "where").
DUPLICATE = "a member with this id_number is already registered"


def create_member(uow: RegistrationUnitOfWork, actor: Principal, command: CreateMember) -> MemberRecord:
    now = clock.utcnow()
    with uow:
        branch = branch_or_422(uow.orgs, command.branch_code, "branch_code")
        domain.require_scope(actor, branch.path, "register members")
        domain.check_new_member(command, clock.local_today(now))
        if uow.members.id_number_taken(command.id_number):
            raise Conflict(DUPLICATE, field="id_number")
        member = Member(**new_member_row(command, branch, now, uow.id_hash_key))
        uow.members.add(member)
        uow.emit(MEMBER_CREATED, member.id, member_created(member.id, member.name, branch))
        uow.audit(actor, "create", "member", member.id)
        uow.commit()
        return MemberRecord.of(member, full=True)


# --- check-ins ----------------------------------------------------------------------------

RECORDERS = ("branch_secretary", "township_officer", "admin")


@dataclass(frozen=True)
class RecordCheckin:
    member_id: str
    branch_code: str
    kind: str
    occurred_at: datetime | None = None
    note: str | None = None
    lost_contact_days: int = 180


def _check_checkin_actor(actor: Principal, member_id: str, branch: Org, kind: str) -> None:
    """A member checks in themself (kind self); a secretary or officer records a grid survey
    for a branch of their subtree; a service records any."""
    if actor.role == "member":
        if actor.sub != member_id:
            raise Forbidden("a member checks in only themself")
        if kind != "self":
            raise InvalidInput("a member's own check-in has kind self", field="kind")
    elif actor.role in RECORDERS:
        domain.require_scope(actor, branch.path, "record check-ins")
        if kind == "self":
            raise InvalidInput("a check-in recorded for a member has kind grid_survey", field="kind")
    elif not actor.is_service:
        raise Forbidden(f"role {actor.role} may not record check-ins")


def record_checkin(uow: RegistrationUnitOfWork, actor: Principal, command: RecordCheckin) -> Checkin:
    with uow:
        # The hot path (issue 25): the fields a check-in needs, and the contact written back in
        # the commit's statement, not the whole record through the ORM.
        member = uow.members.contact_of(command.member_id)
        if member is None:
            raise InvalidInput(f"member {command.member_id} does not exist", field="member_id")
        branch = require_branch(uow.orgs.known(command.branch_code), command.branch_code, "branch_code")
        _check_checkin_actor(actor, member.id, branch, command.kind)
        now = clock.utcnow()
        occurred_at = command.occurred_at or now
        if occurred_at > now:
            raise InvalidInput("occurred_at cannot be in the future", field="occurred_at")
        checkin = Checkin(
            id=new_id(),
            member_id=member.id,
            branch_code=branch.code,
            kind=command.kind,
            occurred_at=occurred_at,
            note=command.note,
            recorded_by=actor.sub,
            created_at=now,
        )
        uow.checkins.add(checkin)
        before = member.contact()
        counted = domain.follow_contact(
            member, occurred_at, domain.contact_cutoff(now, command.lost_contact_days)
        )
        if member.contact() != before:
            uow.members.move_contact(member, counted)
        uow.emit(
            MEMBER_CHECKED_IN,
            member.id,
            {
                **member_event(member, branch.path),
                "checkin_id": checkin.id,
                "branch_code": branch.code,
                "home_branch_code": member.branch_code,
                "kind": command.kind,
                "occurred_at": occurred_at.isoformat(),
            },
        )
        uow.audit(actor, "create", "checkin", checkin.id, org=OrgScope(branch.code, branch.path))
        uow.commit()
        return checkin


def follow_checkin(member: Member, occurred_at: datetime, cutoff: datetime) -> None:
    """The member record follows a contact (domain.follow_contact); its version counts the
    change (the last contact and the flag are part of the record)."""
    if domain.follow_contact(member, occurred_at, cutoff):
        bump_version(member)


# --- the ledger export --------------------------------------------------------------------


@dataclass(frozen=True)
class OpenLedger:
    org_code: str
    # The secretaries' own sheet (full ID numbers and phones, so it imports back) instead of the
    # masked listing: for the people who may read these members in full, never for a service.
    masked: bool = True
    side: str = "outflow"


@dataclass(frozen=True)
class LedgerScope:
    path: str
    org_code: str
    org_name: str
    masked: bool


def open_ledger(uow: RegistrationUnitOfWork, actor: Principal, command: OpenLedger) -> LedgerScope:
    """Check the caller may export the subtree's ledger and audit the export (a full one as
    such); returns what ledger_export.ledger_rows needs."""
    with uow:
        path = scope_path(uow.orgs, actor, command.org_code)
        if not command.masked and actor.is_service:
            raise Forbidden("a service reads the ledger masked only")
        org = uow.orgs.get(command.org_code)
        assert org is not None  # scope_path found it
        # "full" for the secretaries' own sheet, "inflow" for the inflow side's ledger.
        parts = ([] if command.masked else ["full"]) + ([command.side] if command.side != "outflow" else [])
        detail = ",".join(parts) or None
        uow.audit(actor, "export_ledger", "org", command.org_code, detail=detail)
        uow.commit()
        return LedgerScope(path, org.code, org.name, command.masked)
