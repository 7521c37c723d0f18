"""Registration use cases: one transaction each; load, apply the domain rules, save, add events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
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


def list_orgs(database: Database, query: dict[str, Any]) -> dict[str, Any]:
    """Keyset pages. Children page by code; a subtree pages in path order, which an index on
    the materialized path serves directly (prefix range, already sorted, stop after a page)."""
    after = decode_cursor(query["cursor"])
    limit = query["limit"]
    with database.reader() as session:
        if query.get("under"):
            top = _org(session, query["under"])
            if top is None:
                raise NotFound(f"org {query['under']} does not exist")
            # Byte order, so that PostgreSQL walks its "C"-collated path index (SQLite is bytewise).
            ordered_path = (
                Org.path.collate("C") if session.get_bind().dialect.name == "postgresql" else Org.path
            )
            statement = (
                select(Org)
                .where(ordered_path.like(f"{top.path}%"), Org.code != top.code)
                .order_by(ordered_path)
                .limit(limit + 1)
            )
            if after:
                statement = statement.where(ordered_path > after[0])
            key = lambda org: (org.path,)  # noqa: E731
        else:
            statement = select(Org).order_by(Org.code).limit(limit + 1)
            if after:
                statement = statement.where(Org.code > after[0])
            key = lambda org: (org.code,)  # noqa: E731
        if query.get("parent"):
            statement = statement.where(Org.parent_code == query["parent"])
        if query.get("level"):
            statement = statement.where(Org.level == query["level"])
        orgs = session.scalars(statement).all()
        result = page(orgs, limit, key=key)
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


def get_member(
    database: Database, principal: Principal, member_id: str, masked: bool = False
) -> dict[str, Any]:
    """A member in full (audited), or masked: other services ask for the record masked when they
    need only its name, branch and dues, so they never hold personal numbers they do not use."""
    # A masked read writes nothing: a read-only session, no audit entry.
    with database.reader() if masked else database.transaction() as session:
        member = session.get(Member, member_id)
        if member is None:
            raise NotFound(f"member {member_id} does not exist")
        full = _may_read_member(principal, member)
        # Fellow members of the same branch see the record masked (docs/api.md: "for other members").
        if not full and not (principal.role == "member" and principal.org == member.branch_code):
            raise Forbidden("you may not read this member")
        if full and not masked:
            audit.record(session, audit_log, principal, "read_full", "member", member.id)
        return member_view(member, full=full and not masked)


# --- check-ins ----------------------------------------------------------------------------


def create_checkin(
    database: Database, principal: Principal, data: dict[str, Any], lost_contact_days: int = 180
) -> dict[str, Any]:
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
        # A late record of a visit from before the lost-contact window does not end the lapse
        # (the next sweep would flag it again and announce the same lapse twice).
        if member.last_contact_at >= domain.contact_cutoff(now, lost_contact_days):
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


def _branch_or_422(session: Session, code: str, field: str, location: str = "json") -> Org:
    org = _org(session, code)
    if org is None or org.level != "branch":
        raise InvalidInput(f"{code} is not an existing branch", field=field, location=location)
    return org


def route_between(database: Database, from_code: str, to_code: str) -> dict[str, Any]:
    with database.reader() as session:
        sending = _levels_of(session, _branch_or_422(session, from_code, "from", "query"))
        receiving = _levels_of(session, _branch_or_422(session, to_code, "to", "query"))
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
                return member_view(member, full=False)
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
            # Masked: the mover needs the new branch, never the member's ID or phone numbers.
            return member_view(member, full=False)
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
                return member_view(member, full=False)
        raise Conflict(f"transfer {transfer_id} conflicts with another move", field="transfer_id") from None


# --- scope helpers for lists --------------------------------------------------------------


def _scope_path(session: Session, principal: Principal, org_code: str | None) -> str:
    """The org path a list is limited to: `org_code` (which must lie in the caller's subtree),
    else the caller's own org. Members have no lists; they read their own records."""
    if principal.role == "member":
        raise Forbidden("a member reads only their own records")
    code = org_code or (domain.ROOT_CODE if principal.is_admin or principal.is_service else principal.org)
    org = _org(session, code)
    if org is None:
        if org_code:
            raise NotFound(f"org {org_code} does not exist")
        raise Forbidden(f"your org {principal.org} does not exist")
    _require_scope(principal, org.path, "read")
    return org.path


def _under(path: str) -> Any:
    # Paths end with "/", so a prefix match is exactly the subtree (the index serves it).
    return Member.branch_path.like(f"{path}%")


def list_members(database: Database, principal: Principal, query: dict[str, Any]) -> dict[str, Any]:
    after = decode_cursor(query["cursor"])
    with database.reader() as session:
        path = _scope_path(session, principal, query.get("branch"))
        statement = select(Member).order_by(Member.id).limit(query["limit"] + 1)
        codes = [code for code in path.split("/") if code]
        if query.get("branch") and _org(session, codes[-1]).level == "branch":  # type: ignore[union-attr]
            statement = statement.where(Member.branch_code == codes[-1])
        elif path != f"/{domain.ROOT_CODE}/":
            statement = statement.where(_under(path))
        for name in ("mobile", "lost_contact"):
            if query.get(name) is not None:
                statement = statement.where(getattr(Member, name).is_(query[name]))
        if after:
            statement = statement.where(Member.id > after[0])
        result = page(session.scalars(statement).all(), query["limit"], key=lambda m: (m.id,))
        result["items"] = [member_view(member, full=False) for member in result["items"]]
        return result


# --- outflows and inflows -----------------------------------------------------------------


def _member_or_404(session: Session, member_id: str) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"member {member_id} does not exist")
    return member


def _next_card_number(session: Session, county_code: str, year: int) -> int:
    """Sequential per county and year: one atomic upsert, so concurrent outflows queue on the
    counter row (PostgreSQL row lock, SQLite write lock) and never share or skip a number."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    statement = upsert(CardCounter).values(county_code=county_code, year=year, last_no=1)
    statement = statement.on_conflict_do_update(
        index_elements=[CardCounter.county_code, CardCounter.year],
        set_={"last_no": CardCounter.last_no + 1},
    ).returning(CardCounter.last_no)
    return int(session.execute(statement).scalar_one())


def outflow_view(outflow: Outflow) -> dict[str, Any]:
    return {
        "id": outflow.id,
        "member_id": outflow.member_id,
        "activity_card_no": outflow.activity_card_no,
        "branch_code": outflow.branch_code,
        "county_code": outflow.county_code,
        "destination_region": outflow.destination_region,
        "destination_address": outflow.destination_address,
        "occupation": outflow.occupation,
        "employer": outflow.employer,
        "departed_on": outflow.departed_on,
        "expected_return_on": outflow.expected_return_on,
        "reason": outflow.reason,
        "contact_phone": outflow.contact_phone,
        "created_at": outflow.created_at,
    }


def register_outflow(
    database: Database, principal: Principal, member_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """凡出必报: the home branch registers the departure and issues an activity card."""
    with database.transaction() as session:
        member = _member_or_404(session, member_id)
        if principal.role == "member":
            if principal.sub != member.id:
                raise Forbidden("a member reports only their own outflow")
        else:
            _require_scope(principal, member.branch_path, "register outflows")
        domain.check_contact_phone(data["contact_phone"])
        domain.check_outflow_dates(data["departed_on"], data.get("expected_return_on"), date.today())
        branch = _org(session, member.branch_code)
        assert branch is not None
        county = domain.card_issuer(_levels_of(session, branch))
        now = utcnow()
        number = _next_card_number(session, county, now.year)
        outflow = Outflow(
            id=new_id(),
            member_id=member.id,
            branch_code=member.branch_code,
            county_code=county,
            activity_card_no=domain.activity_card_no(county, now.year, number),
            destination_region=data["destination_region"],
            destination_address=data["destination_address"],
            occupation=data["occupation"],
            employer=data.get("employer"),
            departed_on=data["departed_on"],
            expected_return_on=data.get("expected_return_on"),
            reason=data["reason"],
            contact_phone=data["contact_phone"],
            recorded_by=principal.sub,
            created_at=now,
        )
        session.add(outflow)
        # The six facts follow the latest registration.
        member.mobile = True
        member.occupation = outflow.occupation
        member.employer = outflow.employer
        member.current_address = outflow.destination_address
        member.departed_on = outflow.departed_on
        member.contact_phone = outflow.contact_phone
        member.activity_card_no = outflow.activity_card_no
        member.destination_region = outflow.destination_region
        member.version += 1
        session.flush()
        outbox.add(
            session,
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
        audit.record(session, audit_log, principal, "create", "outflow", outflow.id)
        return outflow_view(outflow)


def inflow_view(inflow: Inflow) -> dict[str, Any]:
    return {
        "id": inflow.id,
        "member_id": inflow.member_id,
        "branch_code": inflow.branch_code,
        "home_branch_code": inflow.home_branch_code,
        "arrived_on": inflow.arrived_on,
        "current_address": inflow.current_address,
        "occupation": inflow.occupation,
        "employer": inflow.employer,
        "contact_person": inflow.contact_person,
        "created_at": inflow.created_at,
    }


def register_inflow(
    database: Database, principal: Principal, member_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """凡进必登: the inflow branch registers the arrival and names a contact person."""
    with database.transaction() as session:
        member = _member_or_404(session, member_id)
        branch = _branch_or_422(session, data["branch_code"], "branch_code")
        if principal.role == "member":
            if principal.sub != member.id:
                raise Forbidden("a member registers only their own inflow")
        else:
            _require_scope(principal, branch.path, "register inflows")
        if data["arrived_on"] > date.today():
            raise InvalidInput("arrived_on cannot be in the future", field="arrived_on")
        inflow = Inflow(
            id=new_id(),
            member_id=member.id,
            branch_code=branch.code,
            home_branch_code=member.branch_code,
            arrived_on=data["arrived_on"],
            current_address=data["current_address"],
            occupation=data["occupation"],
            employer=data.get("employer"),
            contact_person=data.get("contact_person"),
            recorded_by=principal.sub,
            created_at=utcnow(),
        )
        session.add(inflow)
        if branch.code != member.branch_code:
            member.mobile = True
        member.inflow_branch_code = branch.code
        member.arrived_on = inflow.arrived_on
        member.current_address = inflow.current_address
        member.occupation = inflow.occupation
        member.employer = inflow.employer
        member.version += 1
        session.flush()
        outbox.add(
            session,
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
        audit.record(session, audit_log, principal, "create", "inflow", inflow.id)
        return inflow_view(inflow)


def mobility_history(database: Database, principal: Principal, member_id: str) -> dict[str, Any]:
    """Outflows and inflows of one member, newest first."""
    with database.reader() as session:
        member = _member_or_404(session, member_id)
        if not _may_read_member(principal, member):
            raise Forbidden("you may not read this member")
        outflows = session.scalars(
            select(Outflow).where(Outflow.member_id == member.id).order_by(Outflow.id.desc())
        ).all()
        inflows = session.scalars(
            select(Inflow).where(Inflow.member_id == member.id).order_by(Inflow.id.desc())
        ).all()
        entries = [{"kind": "outflow", **outflow_view(o)} for o in outflows] + [
            {"kind": "inflow", **inflow_view(i)} for i in inflows
        ]
        entries.sort(key=lambda entry: entry["id"], reverse=True)
        return {"member_id": member.id, "mobile": member.mobile, "items": entries}


# --- check-in listing ---------------------------------------------------------------------


def list_checkins(database: Database, principal: Principal, query: dict[str, Any]) -> dict[str, Any]:
    after = decode_cursor(query["cursor"])
    with database.reader() as session:
        statement = select(Checkin).order_by(Checkin.id).limit(query["limit"] + 1)
        if query.get("member_id"):
            member = _member_or_404(session, query["member_id"])
            if not _may_read_member(principal, member):
                raise Forbidden("you may not read this member's check-ins")
            statement = statement.where(Checkin.member_id == member.id)
        elif principal.role == "member":
            statement = statement.where(Checkin.member_id == principal.sub)
        if query.get("branch"):
            branch = _org(session, query["branch"])
            if branch is None:
                raise NotFound(f"org {query['branch']} does not exist")
            if not query.get("member_id") and principal.role != "member":
                _require_scope(principal, branch.path, "read check-ins")
            statement = statement.where(Checkin.branch_code == branch.code)
        elif not query.get("member_id") and principal.role != "member":
            path = _scope_path(session, principal, None)
            statement = statement.join(Org, Org.code == Checkin.branch_code).where(Org.path.like(f"{path}%"))
        if query.get("since"):
            statement = statement.where(Checkin.occurred_at >= query["since"])
        if after:
            statement = statement.where(Checkin.id > after[0])
        result = page(session.scalars(statement).all(), query["limit"], key=lambda c: (c.id,))
        result["items"] = [
            {
                "id": c.id,
                "member_id": c.member_id,
                "branch_code": c.branch_code,
                "kind": c.kind,
                "occurred_at": c.occurred_at,
                "note": c.note,
            }
            for c in result["items"]
        ]
        return result


# --- the ledger (台账) --------------------------------------------------------------------

LEDGER_COLUMNS = (
    "member_id",
    "name",
    "gender",
    "status",
    "branch_code",
    "activity_card_no",
    "departed_on",
    "destination_region",
    "occupation",
    "employer",
    "current_address",
    "inflow_branch_code",
    "arrived_on",
    "contact_phone",
    "dues_paid_through",
    "last_contact_at",
    "lost_contact",
)


def open_ledger(database: Database, principal: Principal, org_code: str) -> str:
    """Check the caller may export the subtree's ledger and audit the export; returns the org path."""
    with database.transaction() as session:
        path = _scope_path(session, principal, org_code)
        audit.record(session, audit_log, principal, "export_ledger", "org", org_code)
        return path


def ledger_rows(database: Database, path: str, batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """The mobile members of a subtree as tuples in LEDGER_COLUMNS order, streamed from a
    server-side cursor so memory stays flat however large the subtree is."""
    statement = (
        select(*(getattr(Member, "id" if name == "member_id" else name) for name in LEDGER_COLUMNS))
        .where(Member.mobile.is_(True))
        .order_by(Member.id)
    )
    if path != f"/{domain.ROOT_CODE}/":
        statement = statement.where(_under(path))
    phone = LEDGER_COLUMNS.index("contact_phone")
    with database.reader() as session:
        # yield_per implies stream_results: PostgreSQL uses a named (server-side) cursor.
        for row in session.execute(statement.execution_options(yield_per=batch)):
            if row[phone]:
                # A ledger is a listing: contact numbers are masked like in every other list.
                row = (*row[:phone], domain.mask_phone(row[phone]), *row[phone + 1 :])
            yield row


# --- the lost-contact sweep ---------------------------------------------------------------

SWEEP_ACTOR = Principal(sub="svc:registration-sweep", role="service", org=domain.ROOT_CODE)


def sweep_lost_contact(
    database: Database, lost_contact_days: int, now: datetime | None = None, batch: int = 500
) -> int:
    """Flag members whose last contact is older than the limit; one event per lapse.

    The flag itself makes it once per lapse: only members not yet flagged are picked, and a
    check-in clears the flag. Batches keep each transaction short.
    """
    cutoff = domain.contact_cutoff(now or utcnow(), lost_contact_days)
    flagged = 0
    while True:
        with database.transaction() as session:
            members = session.scalars(
                select(Member)
                .where(Member.lost_contact.is_(False), Member.last_contact_at < cutoff)
                .order_by(Member.last_contact_at, Member.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            for member in members:
                member.lost_contact = True
                member.version += 1
                outbox.add(
                    session,
                    MEMBER_LOST_CONTACT,
                    member.id,
                    {
                        **member_event(member),
                        "last_contact_at": member.last_contact_at.isoformat()
                        if member.last_contact_at
                        else None,
                        "lost_contact_days": lost_contact_days,
                    },
                )
                audit.record(session, audit_log, SWEEP_ACTOR, "flag_lost_contact", "member", member.id)
        flagged += len(members)
        if len(members) < batch:
            return flagged


# --- import of existing ledgers -----------------------------------------------------------


class ImportRejected(InvalidInput):
    """A real import with any bad row: nothing is written; every row's problems are reported."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len({r['row'] for r in rows})} rows have errors; nothing was imported", field="file"
        )
        self.rows = rows


def _existing_id_numbers(session: Session, id_numbers: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(id_numbers), 500):  # SQLite caps bound parameters per statement
        chunk = id_numbers[start : start + 500]
        found.update(
            session.execute(
                select(Member.id_number, Member.branch_code).where(Member.id_number.in_(chunk))
            ).all()
        )
    return found


def import_members(
    database: Database,
    principal: Principal,
    branch_code: str,
    rows: int,
    valid: list[tuple[int, dict[str, Any]]],
    errors: list[dict[str, Any]],
    dry_run: bool,
) -> dict[str, Any]:
    """All or nothing; a row whose id_number is already registered at this branch is skipped,
    so importing the same file again creates nothing new."""
    errors = list(errors)
    today = date.today()
    opener = database.reader if dry_run else database.transaction
    with opener() as session:
        branch = _org(session, branch_code)
        if branch is None or branch.level != "branch":
            raise InvalidInput(f"{branch_code} is not an existing branch", field="branch", location="query")
        _require_scope(principal, branch.path, "import members")
        candidates: list[tuple[int, dict[str, Any]]] = []
        seen: dict[str, int] = {}
        for number, data in valid:
            try:
                domain.check_new_member(
                    domain.NewMember(**{key: data[key] for key in domain.NewMember.__dataclass_fields__}),
                    today,
                )
            except InvalidInput as problem:
                errors.append({"row": number, "field": problem.field or "row", "message": problem.message})
                continue
            if data["id_number"] in seen:
                errors.append(
                    {"row": number, "field": "id_number", "message": f"repeats row {seen[data['id_number']]}"}
                )
                continue
            seen[data["id_number"]] = number
            candidates.append((number, data))
        registered = _existing_id_numbers(session, [data["id_number"] for _, data in candidates])
        fresh: list[dict[str, Any]] = []
        existing = 0
        for number, data in candidates:
            holder = registered.get(data["id_number"])
            if holder == branch.code:
                existing += 1
            elif holder is not None:
                errors.append(
                    {"row": number, "field": "id_number", "message": "already registered at another branch"}
                )
            else:
                fresh.append(data)
        errors.sort(key=lambda error: (error["row"], error["field"]))
        if dry_run:
            return {
                "rows": rows,
                "valid": rows - len({error["row"] for error in errors}),
                "existing": existing,
                "errors": errors,
            }
        if errors:
            raise ImportRejected(errors)
        now = utcnow()
        members = [
            {
                "id": new_id(),
                **{key: data[key] for key in domain.NewMember.__dataclass_fields__},
                "branch_path": branch.path,
                "mobile": False,
                "lost_contact": False,
                "last_contact_at": now,
                "created_at": now,
                "version": 1,
            }
            for data in fresh
        ]
        if members:
            # One multi-row statement per table: 10,000 rows must import in seconds.
            session.execute(Member.__table__.insert(), members)
            session.execute(
                audit_log.insert(),
                [
                    {
                        "id": new_id(),
                        "at": now,
                        "actor": principal.sub,
                        "actor_role": principal.role,
                        "action": "import",
                        "object_type": "member",
                        "object_id": member["id"],
                        "request_id": None,
                        "detail": None,
                    }
                    for member in members
                ],
            )
            outbox.add_many(
                session,
                MEMBER_CREATED,
                [
                    (
                        member["id"],
                        {
                            "member_id": member["id"],
                            "member_name": member["name"],
                            "branch_code": branch.code,
                            "branch_path": branch.path_codes,
                        },
                    )
                    for member in members
                ],
            )
        return {"rows": rows, "created": len(members), "existing": existing, "errors": []}
