"""Registration use cases: one transaction each; load, apply the domain rules, save, add events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registration import domain
from services.registration.models import (
    CardCounter,
    Checkin,
    Inflow,
    Member,
    Org,
    Outflow,
    RelationshipMove,
    audit_log,
    outbox,
)
from shared import audit
from shared.auth import ORG_ROLES, Principal
from shared.contracts.registration import (
    INFLOW_REGISTERED,
    MEMBER_CHECKED_IN,
    MEMBER_CREATED,
    MEMBER_LOST_CONTACT,
    ORG_CREATED,
    OUTFLOW_REGISTERED,
    RELATIONSHIP_MOVED,
)
from shared.db import Database, new_id, utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.pagination import decode_cursor, page

# --- scope --------------------------------------------------------------------------------


def _org(session: Session, code: str) -> Org | None:
    return session.get(Org, code)


def acts_for(principal: Principal, org_path: str) -> bool:
    """May an org role (or admin) act on something placed at `org_path`? Its subtree only."""
    if principal.is_admin or principal.is_service:
        return True
    return principal.role in ORG_ROLES and f"/{principal.org}/" in org_path


def _require_scope(principal: Principal, org_path: str, what: str) -> None:
    if not acts_for(principal, org_path):
        raise Forbidden(f"{principal.role} of {principal.org} may not {what} outside its subtree")


# --- orgs ---------------------------------------------------------------------------------


def org_view(org: Org) -> dict[str, Any]:
    return {
        "code": org.code,
        "name": org.name,
        "level": org.level,
        "parent_code": org.parent_code,
        "path": org.path_codes,
        "region": org.region,
    }


def create_org(database: Database, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    if principal.role not in ("admin", "org_department"):
        raise Forbidden("only an admin or an org department may create orgs")
    with database.transaction() as session:
        if _org(session, data["code"]) is not None:
            raise Conflict(f"org {data['code']} already exists", field="code")
        parent_code = data.get("parent_code")
        parent = _org(session, parent_code) if parent_code else None
        if parent_code and parent is None:
            raise InvalidInput(f"parent org {parent_code} does not exist", field="parent_code")
        domain.check_org_placement(data["level"], parent.level if parent else None)
        assert parent is not None
        _require_scope(principal, parent.path, "create orgs")
        org = Org(
            code=data["code"],
            name=data["name"],
            level=data["level"],
            parent_code=parent.code,
            path=f"{parent.path}{data['code']}/",
            region=data.get("region"),
            created_at=utcnow(),
        )
        session.add(org)
        session.flush()
        view = org_view(org)
        outbox.add(
            session,
            ORG_CREATED,
            org.code,
            {k: view[k] for k in ("code", "name", "level", "parent_code", "path")},
        )
        audit.record(session, audit_log, principal, "create", "org", org.code)
        return view


def get_org(database: Database, code: str) -> dict[str, Any]:
    # The org tree is not personal data: any authenticated caller may read it.
    with database.reader() as session:
        org = _org(session, code)
        if org is None:
            raise NotFound(f"org {code} does not exist")
        return org_view(org)


def list_orgs(database: Database, parent: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    after = decode_cursor(cursor)
    with database.reader() as session:
        query = select(Org).order_by(Org.code).limit(limit + 1)
        if parent:
            query = query.where(Org.parent_code == parent)
        if after:
            query = query.where(Org.code > after[0])
        orgs = session.scalars(query).all()
        result = page(orgs, limit, key=lambda org: (org.code,))
        result["items"] = [org_view(org) for org in result["items"]]
        return result


# --- members ------------------------------------------------------------------------------


def member_view(member: Member, full: bool) -> dict[str, Any]:
    """A member record; PII masked unless `full` (the caller may see it, and it is audited)."""
    return {
        "id": member.id,
        "name": member.name,
        "gender": member.gender,
        "birth_date": member.birth_date,
        "id_number": member.id_number if full else domain.mask_id_number(member.id_number),
        "phone": member.phone if full else domain.mask_phone(member.phone),
        "status": member.status,
        "branch_code": member.branch_code,
        "joined_on": member.joined_on,
        "dues_paid_through": member.dues_paid_through,
        "mobile": member.mobile,
        "lost_contact": member.lost_contact,
        "last_contact_at": member.last_contact_at,
        "six_facts": {
            "occupation": member.occupation,
            "employer": member.employer,
            "current_address": member.current_address,
            "departed_on": member.departed_on,
            "contact_phone": (member.contact_phone if full else domain.mask_phone(member.contact_phone))
            if member.contact_phone
            else None,
            "dues_paid_through": member.dues_paid_through,
        },
    }


def create_member(database: Database, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    with database.transaction() as session:
        branch = _org(session, data["branch_code"])
        if branch is None or branch.level != "branch":
            raise InvalidInput(f"{data['branch_code']} is not an existing branch", field="branch_code")
        _require_scope(principal, branch.path, "register members")
        candidate = domain.NewMember(**{key: data[key] for key in domain.NewMember.__dataclass_fields__})
        domain.check_new_member(candidate, date.today())
        if session.scalar(select(Member.id).where(Member.id_number == candidate.id_number)):
            raise Conflict("a member with this id_number is already registered", field="id_number")
        now = utcnow()
        member = Member(
            id=new_id(),
            **{key: data[key] for key in domain.NewMember.__dataclass_fields__},
            branch_path=branch.path,
            mobile=False,
            lost_contact=False,
            last_contact_at=now,
            created_at=now,
            version=1,
        )
        session.add(member)
        session.flush()
        outbox.add(
            session,
            MEMBER_CREATED,
            member.id,
            {
                "member_id": member.id,
                "member_name": member.name,
                "branch_code": branch.code,
                "branch_path": branch.path_codes,
            },
        )
        audit.record(session, audit_log, principal, "create", "member", member.id)
        return member_view(member, full=True)


def _may_read_member(principal: Principal, member: Member) -> bool:
    if principal.role == "member":
        return principal.sub == member.id
    return acts_for(principal, member.branch_path)


def get_member(database: Database, principal: Principal, member_id: str) -> dict[str, Any]:
    with database.transaction() as session:
        member = session.get(Member, member_id)
        if member is None:
            raise NotFound(f"member {member_id} does not exist")
        if not _may_read_member(principal, member):
            raise Forbidden("you may not read this member")
        audit.record(session, audit_log, principal, "read_full", "member", member.id)
        return member_view(member, full=True)


# --- check-ins ----------------------------------------------------------------------------


def create_checkin(database: Database, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    kind = data["kind"]
    with database.transaction() as session:
        member = session.get(Member, data["member_id"])
        if member is None:
            raise InvalidInput(f"member {data['member_id']} does not exist", field="member_id")
        branch = _org(session, data["branch_code"])
        if branch is None or branch.level != "branch":
            raise InvalidInput(f"{data['branch_code']} is not an existing branch", field="branch_code")
        if principal.role == "member":
            if principal.sub != member.id:
                raise Forbidden("a member checks in only themself")
            if kind != "self":
                raise InvalidInput("a member's own check-in has kind self", field="kind")
        elif principal.role in ("branch_secretary", "township_officer", "admin"):
            _require_scope(principal, branch.path, "record check-ins")
            if kind == "self":
                raise InvalidInput("a check-in recorded for a member has kind grid_survey", field="kind")
        elif not principal.is_service:
            raise Forbidden(f"role {principal.role} may not record check-ins")
        now = utcnow()
        occurred_at: datetime = data.get("occurred_at") or now
        if occurred_at > now:
            raise InvalidInput("occurred_at cannot be in the future", field="occurred_at")
        checkin = Checkin(
            id=new_id(),
            member_id=member.id,
            branch_code=branch.code,
            kind=kind,
            occurred_at=occurred_at,
            note=data.get("note"),
            recorded_by=principal.sub,
            created_at=now,
        )
        session.add(checkin)
        if member.last_contact_at is None or occurred_at > member.last_contact_at:
            member.last_contact_at = occurred_at
        member.lost_contact = False
        session.flush()
        outbox.add(
            session,
            MEMBER_CHECKED_IN,
            member.id,
            {
                "checkin_id": checkin.id,
                "member_id": member.id,
                "member_name": member.name,
                "branch_code": branch.code,
                "branch_path": branch.path_codes,
                "home_branch_code": member.branch_code,
                "kind": kind,
                "occurred_at": occurred_at.isoformat(),
            },
        )
        audit.record(session, audit_log, principal, "create", "checkin", checkin.id)
        return {
            "id": checkin.id,
            "member_id": member.id,
            "branch_code": branch.code,
            "kind": kind,
            "occurred_at": occurred_at,
            "note": checkin.note,
        }


def member_event(member: Member, branch_path: str | None = None) -> dict[str, Any]:
    """The fields every member event starts with (MemberEvent in the contract)."""
    return {
        "member_id": member.id,
        "member_name": member.name,
        "branch_code": member.branch_code,
        "branch_path": [code for code in (branch_path or member.branch_path).split("/") if code],
    }


# --- routes between branches (for the transfer service) -----------------------------------


def _levels_of(session: Session, org: Org) -> dict[str, str]:
    """level -> code of the org and each of its ancestors, looked up by level (levels may be skipped)."""
    rows = session.execute(select(Org.level, Org.code).where(Org.code.in_(org.path_codes))).all()
    return {level: code for level, code in rows}


def _branch_or_422(session: Session, code: str, field: str) -> Org:
    org = _org(session, code)
    if org is None or org.level != "branch":
        raise InvalidInput(f"{code} is not an existing branch", field=field)
    return org


def route_between(database: Database, from_code: str, to_code: str) -> dict[str, Any]:
    with database.reader() as session:
        sending = _levels_of(session, _branch_or_422(session, from_code, "from"))
        receiving = _levels_of(session, _branch_or_422(session, to_code, "to"))
    return {
        "route": domain.classify_route(sending, receiving),
        "from": domain.ancestors_by_level(sending),
        "to": domain.ancestors_by_level(receiving),
    }


def nearest_branches(database: Database, region: str, limit: int) -> dict[str, Any]:
    """就近就便: branches whose region shares the longest prefix with `region`, deepest first."""
    with database.reader() as session:
        for prefix in domain.region_prefixes(region):
            branches = session.scalars(
                select(Org)
                .where(Org.level == "branch", Org.region.like(f"{prefix}%"))
                .order_by(func.length(Org.region).desc(), Org.code)
                .limit(limit)
            ).all()
            if branches:
                return {"region": region, "matched_prefix": prefix, "items": [org_view(o) for o in branches]}
    return {"region": region, "matched_prefix": None, "items": []}


# --- relationship moves (for the transfer service) ----------------------------------------


def move_relationship(
    database: Database, principal: Principal, member_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Move a member's relationship to another branch; idempotent by transfer_id."""
    if not principal.is_service:
        raise Forbidden("only a service may move a relationship")
    transfer_id, branch_code = data["transfer_id"], data["branch_code"]
    try:
        with database.transaction() as session:
            member = session.get(Member, member_id)
            if member is None:
                raise NotFound(f"member {member_id} does not exist")
            earlier = session.get(RelationshipMove, transfer_id)
            if earlier is not None:
                if earlier.member_id != member.id or earlier.to_branch_code != branch_code:
                    raise Conflict(
                        f"transfer {transfer_id} already moved a relationship elsewhere", field="transfer_id"
                    )
                return member_view(member, full=True)
            branch = _branch_or_422(session, branch_code, "branch_code")
            from_branch = member.branch_code
            session.add(
                RelationshipMove(
                    transfer_id=transfer_id,
                    member_id=member.id,
                    from_branch_code=from_branch,
                    to_branch_code=branch.code,
                    moved_at=utcnow(),
                )
            )
            member.branch_code = branch.code
            member.branch_path = branch.path
            # A formal transfer ends the mobile state: the member now belongs where they live.
            member.mobile = False
            member.inflow_branch_code = None
            member.version += 1
            session.flush()
            outbox.add(
                session,
                RELATIONSHIP_MOVED,
                member.id,
                {**member_event(member), "transfer_id": transfer_id, "from_branch_code": from_branch},
            )
            audit.record(session, audit_log, principal, "move_relationship", "member", member.id, transfer_id)
            return member_view(member, full=True)
    except IntegrityError:
        # A concurrent request with the same transfer_id won the insert: answer as a replay would.
        with database.reader() as session:
            earlier = session.get(RelationshipMove, transfer_id)
            member = session.get(Member, member_id)
            if (
                earlier
                and member
                and earlier.member_id == member.id
                and earlier.to_branch_code == branch_code
            ):
                return member_view(member, full=True)
        raise Conflict(f"transfer {transfer_id} conflicts with another move", field="transfer_id") from None
