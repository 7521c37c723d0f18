"""Read queries of the registration service, on read-only sessions.

They return rows shaped like the response schemas (ORM rows, `MemberRecord`s, page dicts), which
the API dumps. A full read of a member's personal data is audited, so `get_member` takes a unit
of work: the audit entry is a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from marshmallow import missing
from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from services.registration import domain
from services.registration.models import (
    Checkin,
    ContactAttempt,
    DuesPayment,
    Inflow,
    Member,
    MemberNameGram,
    Org,
    Outflow,
)
from services.registration.repositories import OrgRepository
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.db import Database
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.pagination import decode_cursor, page

_T = TypeVar("_T")

# --- the member record as a caller may see it --------------------------------------------


@dataclass(frozen=True)
class SixFacts:
    occupation: str | None
    employer: str | None
    current_address: str | None
    departed_on: date | None
    contact_phone: str | None
    dues_paid_through: str


@dataclass(frozen=True)
class OpenOutflow:
    id: str
    activity_card_no: str
    destination_region: str
    destination_address: str
    departed_on: date
    expected_return_on: date | None

    @classmethod
    def of(cls, outflow: Outflow | None) -> OpenOutflow | None:
        if outflow is None:
            return None
        return cls(
            outflow.id,
            outflow.activity_card_no,
            outflow.destination_region,
            outflow.destination_address,
            outflow.departed_on,
            outflow.expected_return_on,
        )


class _OpenOutflows(Protocol):
    def open_outflow(self, member_id: str) -> Outflow | None: ...


def open_outflow_view(mobility: _OpenOutflows, member_id: str) -> OpenOutflow | None:
    return OpenOutflow.of(mobility.open_outflow(member_id))


def _open_outflow_in(session: Session, member_id: str) -> OpenOutflow | None:
    return OpenOutflow.of(
        session.scalar(select(Outflow).where(Outflow.member_id == member_id, Outflow.closed_on.is_(None)))
    )


@dataclass(frozen=True)
class MemberRecord:
    """A member as MemberSchema dumps it: personal numbers masked unless `full`."""

    id: str
    name: str
    gender: str
    # The year alone ("1988") where the ID number is masked: with the masked ID's region and
    # tail digits the full date left one candidate number (security review, finding 4).
    birth_date: date | str
    id_number: str
    phone: str
    status: str
    branch_code: str
    joined_on: date
    dues_paid_through: str
    mobile: bool
    lost_contact: bool
    last_contact_at: datetime | None
    lost_contact_since: date | None
    standing: str
    six_facts: SixFacts
    # The base of the member's ETag (the API sends it as a header, not in the body).
    version: int
    # The branch of the member's open inflow (双向管理), None when there is none.
    inflow_branch_code: str | None = None
    # The open outflow (None when there is none); `missing` (left out of the answer) in lists and
    # for callers who may not see it (a fellow member of the branch).
    open_outflow: OpenOutflow | None | Any = missing

    @property
    def etag(self) -> str:
        return domain.member_etag(self.version)

    @classmethod
    def of(cls, member: Member, full: bool, open_outflow: OpenOutflow | None | Any = missing) -> MemberRecord:
        def phone(number: str | None) -> str | None:
            return None if number is None else number if full else domain.mask_phone(number)

        return cls(
            id=member.id,
            name=member.name,
            gender=member.gender,
            birth_date=member.birth_date if full else str(member.birth_date.year),
            id_number=member.id_number if full else domain.mask_id_number(member.id_number),
            phone=member.phone if full else domain.mask_phone(member.phone),
            status=member.status,
            branch_code=member.branch_code,
            joined_on=member.joined_on,
            dues_paid_through=member.dues_paid_through,
            mobile=member.mobile,
            lost_contact=member.lost_contact,
            last_contact_at=member.last_contact_at,
            lost_contact_since=member.lost_contact_since,
            standing=member.standing or "normal",
            six_facts=SixFacts(
                occupation=member.occupation,
                employer=member.employer,
                current_address=member.current_address,
                departed_on=member.departed_on,
                # An empty number counts as none, as before.
                contact_phone=phone(member.contact_phone) if member.contact_phone else None,
                dues_paid_through=member.dues_paid_through,
            ),
            version=member.version,
            inflow_branch_code=member.inflow_branch_code,
            open_outflow=open_outflow,
        )


# --- scope --------------------------------------------------------------------------------


def scope_path(orgs: OrgRepository, principal: Principal, org_code: str | None) -> str:
    """The org path a list is limited to: `org_code` (which must lie in the caller's subtree),
    else the caller's own org. Members have no lists; they read their own records."""
    if principal.role == "member":
        raise Forbidden("a member reads only their own records")
    code = org_code or (domain.ROOT_CODE if principal.is_admin or principal.is_service else principal.org)
    org = orgs.get(code)
    if org is None:
        if org_code:
            raise NotFound(f"org {org_code} does not exist")
        raise Forbidden(f"your org {principal.org} does not exist")
    domain.require_scope(principal, org.path, "read")
    return org.path


def _under(path: str) -> Any:
    # Paths end with "/", so a prefix match is exactly the subtree (the index serves it).
    return Member.branch_path.like(f"{path}%")


def _detached(session: Session, result: _T) -> _T:
    """`result`, its rows detached with what they loaded: the reader's closing rollback would
    expire them, and the API dumps them after the session is gone."""
    session.expunge_all()
    return result


def _member_or_404(session: Session, member_id: str) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"member {member_id} does not exist")
    return member


def _member_or_refused(principal: Principal, member: Member | None, member_id: str) -> Member:
    """The member; for a missing one, 404 only to those who may read every member (admin,
    service), else the 403 an existing member out of scope gets: no existence oracle."""
    if member is not None:
        return member
    if principal.is_admin or principal.is_service:
        raise NotFound(f"member {member_id} does not exist")
    raise Forbidden("you may not read this member")


# --- orgs ---------------------------------------------------------------------------------


def get_org(database: Database, code: str) -> Org:
    # The org tree is not personal data: any authenticated caller may read it.
    with database.reader() as session:
        org = OrgRepository(session).get(code)
        if org is None:
            raise NotFound(f"org {code} does not exist")
        return _detached(session, org)


@dataclass(frozen=True)
class OrgList:
    limit: int
    cursor: str | None = None
    parent: str | None = None
    under: str | None = None
    level: str | None = None


def list_orgs(database: Database, query: OrgList) -> dict[str, Any]:
    """Keyset pages. Children page by code; a subtree pages in path order, which an index on
    the materialized path serves directly (prefix range, already sorted, stop after a page)."""
    after = decode_cursor(query.cursor)
    with database.reader() as session:
        if query.under:
            top = OrgRepository(session).get(query.under)
            if top is None:
                raise NotFound(f"org {query.under} does not exist")
            # Byte order, so that PostgreSQL walks its "C"-collated path index (SQLite is bytewise).
            ordered_path = (
                Org.path.collate("C") if session.get_bind().dialect.name == "postgresql" else Org.path
            )
            statement = (
                select(Org)
                .where(ordered_path.like(f"{top.path}%"), Org.code != top.code)
                .order_by(ordered_path)
                .limit(query.limit + 1)
            )
            if after:
                statement = statement.where(ordered_path > after[0])
            key = lambda org: (org.path,)  # noqa: E731
        else:
            statement = select(Org).order_by(Org.code).limit(query.limit + 1)
            if after:
                statement = statement.where(Org.code > after[0])
            key = lambda org: (org.code,)  # noqa: E731
        if query.parent:
            statement = statement.where(Org.parent_code == query.parent)
        if query.level:
            statement = statement.where(Org.level == query.level)
        return _detached(session, page(session.scalars(statement).all(), query.limit, key=key))


def _branch_or_422(orgs: OrgRepository, code: str, field: str) -> Org:
    org = orgs.get(code)
    if org is None or org.level != "branch":
        raise InvalidInput(f"{code} is not an existing branch", field=field, location="query")
    return org


def route_between(database: Database, from_code: str, to_code: str) -> dict[str, Any]:
    with database.reader() as session:
        orgs = OrgRepository(session)
        sending = orgs.levels_of(_branch_or_422(orgs, from_code, "from"))
        receiving = orgs.levels_of(_branch_or_422(orgs, to_code, "to"))
    return {
        "route": domain.classify_route(sending, receiving),
        "from": domain.ancestors_by_level(sending),
        "to": domain.ancestors_by_level(receiving),
    }


@dataclass(frozen=True)
class NearestBranches:
    region: str
    matched_prefix: str | None
    items: Sequence[Org]


def nearest_branches(database: Database, region: str, limit: int) -> NearestBranches:
    """就近就便: branches whose region shares the longest prefix with `region`, deepest first."""
    with database.reader() as session:
        orgs = OrgRepository(session)
        for prefix in domain.region_prefixes(region):
            branches = orgs.branches_in_region(prefix, limit)
            if branches:
                return _detached(session, NearestBranches(region, prefix, branches))
    return NearestBranches(region, None, [])


# --- members ------------------------------------------------------------------------------


def get_member(
    uow: RegistrationUnitOfWork, principal: Principal, member_id: str, masked: bool = False
) -> MemberRecord:
    """A member in full (audited), or masked: other services ask for the record masked when they
    need only its name, branch and dues, so they never hold personal numbers they do not use."""
    if masked:
        # A masked read writes nothing: a read-only session, no audit entry.
        with uow.database.reader() as session:
            found = _member_or_refused(principal, session.get(Member, member_id), member_id)
            member, full = _readable(principal, found)
            away = _open_outflow_in(session, member.id) if full else missing
            return MemberRecord.of(member, full=False, open_outflow=away)
    with uow:
        member = _member_or_refused(principal, uow.members.get(member_id), member_id)
        member, full = _readable(principal, member)
        if full:
            side = None if domain.may_read_member(principal, member.id, member.branch_path) else "inflow side"
            uow.audit(principal, "read_full", "member", member.id, side)
        away = open_outflow_view(uow.mobility, member.id) if full else missing
        record = MemberRecord.of(member, full=full, open_outflow=away)
        uow.commit()
        return record


def may_read(principal: Principal, member: Member) -> bool:
    """The member, those over their branch, and (双向管理) those over the branch of their open inflow."""
    return domain.may_read_member(principal, member.id, member.branch_path, member.inflow_branch_path)


def _readable(principal: Principal, member: Member) -> tuple[Member, bool]:
    """The member and whether the caller sees it in full; fellow members of the same branch see
    it masked (docs/api.md: "for other members"); anyone else is refused."""
    full = may_read(principal, member)
    if not full and not (principal.role == "member" and principal.org == member.branch_code):
        raise Forbidden("you may not read this member")
    return member, full


@dataclass(frozen=True)
class MemberList:
    limit: int
    cursor: str | None = None
    branch: str | None = None
    org: str | None = None
    mobile: bool | None = None
    lost_contact: bool | None = None
    # 双向管理: members whose open inflow is at this org (a branch) or in its subtree.
    inflow_branch: str | None = None
    q: str | None = None
    id_number: str | None = None
    not_reached_in: str | None = None
    # 欠缴党费: members in the party whose dues are paid through a month before the current one.
    dues_behind: bool | None = None


def list_members(uow: RegistrationUnitOfWork, principal: Principal, query: MemberList) -> dict[str, Any]:
    """A page of members, masked; a page of more than one is audited once (who listed whom), and
    a search by ID number as a full read of whom it found (it ties a number to a person)."""
    if query.branch and query.org and query.branch != query.org:
        raise InvalidInput("give branch or org, not both", field="org", location="query")
    id_hash = domain.id_number_hash(query.id_number, uow.id_hash_key) if query.id_number else None
    # The page and its audit entry in one transaction: one commit instead of a read transaction
    # and then a write one (round trips are most of a search's cost beyond its SQL), and an ID
    # search's entries take their org from the rows it loaded, not from a second read.
    with uow:
        result = _member_page(uow.session, principal, query, id_hash)
        if id_hash is not None:
            for member in result["items"]:
                uow.audit(principal, "read_full", "member", member.id, "search by id_number")
        elif len(result["items"]) > 1:
            target = query.inflow_branch or query.branch or query.org or principal.org
            uow.audit(principal, "list_masked", "org", target, f"{len(result['items'])} members")
        if uow.audits:
            uow.commit()
        return result


def _like_pattern(text: str) -> str:
    """`%text%` with the text's own wildcards taken literally (escape character backslash)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def reached_between(start: datetime, end: datetime) -> ColumnElement[bool]:
    """The member (of the enclosing query) was reached in [start, end): a check-in, or a
    contact attempt that reached them. Both are index ranges per member (member, time)."""
    checked_in = (
        select(Checkin.id)
        .where(Checkin.member_id == Member.id, Checkin.occurred_at >= start, Checkin.occurred_at < end)
        .exists()
    )
    attempted = (
        select(ContactAttempt.id)
        .where(
            ContactAttempt.member_id == Member.id,
            ContactAttempt.result == "reached",
            ContactAttempt.attempted_at >= start,
            ContactAttempt.attempted_at < end,
        )
        .exists()
    )
    return or_(checked_in, attempted)


def _member_page(session: Session, principal: Principal, query: MemberList, id_hash: str | None) -> dict[str, Any]:
    after = decode_cursor(query.cursor)
    scope_code = query.branch or query.org
    orgs = OrgRepository(session)
    conditions: list[ColumnElement[bool]] = []
    # The subtree the page is limited to (None: the whole tree, or the inflow side's, which
    # is a condition on the member instead), and whether it is one branch.
    scope: str | None = None
    one_branch = False
    if query.inflow_branch:
        if scope_code:
            raise InvalidInput(
                "give branch or inflow_branch, not both", field="inflow_branch", location="query"
            )
        inflow_path = scope_path(orgs, principal, query.inflow_branch)
        # Paths end with "/": a prefix is the branch itself or exactly the subtree.
        conditions.append(Member.inflow_branch_path.like(f"{inflow_path}%"))
    else:
        path = scope_path(orgs, principal, scope_code)
        code = [code for code in path.split("/") if code][-1]
        if path != f"/{domain.ROOT_CODE}/":
            scope = path
            one_branch = bool(scope_code) and orgs.get(code).level == "branch"  # type: ignore[union-attr]
    if query.mobile is not None:
        conditions.append(Member.mobile.is_(query.mobile))
    if query.lost_contact is not None:
        conditions.append(Member.lost_contact.is_(query.lost_contact))
    if id_hash is not None:
        # The keyed hash's index finds the one row; the scope still applies.
        conditions.append(Member.id_number_hash == id_hash)
    if query.not_reached_in:
        start, end = domain.month_bounds(query.not_reached_in, clock.CHINA_TIME)
        conditions.append(~reached_between(start, end))
    if query.dues_behind is not None:
        # As the dashboard counts them (stats/breakdown): removed members owe nothing.
        behind = and_(Member.dues_paid_through < clock.current_month(), Member.standing != "removed")
        conditions.append(behind if query.dues_behind else ~behind)
    if query.q:
        statement = _name_matches(session, scope, one_branch, conditions, query.q, after, query.limit + 1)
    else:
        if scope is not None:
            conditions.append(Member.branch_code == code if one_branch else _under(scope))
        if after:
            conditions.append(Member.id > after[0])
        statement = select(Member).where(*conditions).order_by(Member.id).limit(query.limit + 1)
    result = page(session.scalars(statement).all(), query.limit, key=lambda m: (m.id,))
    result["items"] = [MemberRecord.of(member, full=False) for member in result["items"]]
    return result


def _in_statement(value: str) -> Any:
    """An org path as a literal of the statement, not a parameter: PostgreSQL plans a prepared
    statement once for all parameters after a few runs, and a plan made for a province's prefix
    (walk the gram in id order) reads all of a common gram's members for a county. With the
    path in its text, each scope has a statement and plan of its own. (Paths are ours: codes of
    capital letters, digits and "-", checked when each org was created.)"""
    return bindparam(None, value, literal_execute=True)


def _path_prefix(session: Session, column: Any, path: str) -> ColumnElement[bool]:
    """`column` starts with `path`, as a range its index serves: PostgreSQL's text_pattern_ops
    index takes a prefix LIKE; SQLite's LIKE ignores case and so no index, but a byte range
    does (paths end with "/", and "0" is the byte after it)."""
    if session.get_bind().dialect.name == "postgresql":
        return column.like(_in_statement(f"{path}%"))
    return (column >= _in_statement(path)) & (column < _in_statement(path[:-1] + "0"))


def _name_matches(
    session: Session,
    scope: str | None,
    one_branch: bool,
    conditions: list[ColumnElement[bool]],
    text: str,
    after: list[Any] | None,
    limit: int,
) -> Any:
    """The first `limit` members (by id, after the cursor) in `scope` whose name contains `text`
    and who meet `conditions`, found through member_name_grams (docs/decisions/0022).

    One gram leads: the character itself, or the first of the text's pairs; a member must also
    have the text's other pairs. The grams come in id order (nationwide and in a wide scope, the
    primary key (gram, member_id) walked with the path tested in the index; in a county, a range
    of ix_member_name_grams_scope sorted), and each candidate's member row is then read by its
    key and tested against the whole text and the other conditions, until a page is full."""
    grams = domain.search_grams(text)
    lead = aliased(MemberNameGram)
    found: list[ColumnElement[bool]] = [lead.gram == grams[0]]
    if scope is not None:
        found.append(
            lead.branch_path == _in_statement(scope) if one_branch else _path_prefix(session, lead.branch_path, scope)
        )
    if after:
        found.append(lead.member_id > after[0])
    for gram in grams[1:]:
        other = aliased(MemberNameGram)
        found.append(select(other.member_id).where(other.gram == gram, other.member_id == lead.member_id).exists())
    verified = [*conditions, Member.name.like(_like_pattern(text), escape="\\")]
    if session.get_bind().dialect.name != "postgresql":
        # SQLite joins by nested loops only, in the order the grams come. Without statistics it
        # would walk the primary key for its order; within a subtree the scope index's range is
        # what to read, so the order there is of an expression (sorted after, no index's).
        order = lead.member_id if scope is None else lead.member_id + ""
        return (
            select(Member)
            .join(lead, lead.member_id == Member.id)
            .where(*found, *verified)
            .order_by(order)
            .limit(limit)
        )
    # PostgreSQL would merge-join the candidates with the members' primary key and walk members
    # from the first id on (thousands of rows for 王 in a province); the lateral row (LIMIT 1:
    # kept a subquery, never flattened into a join) is one key lookup per candidate instead.
    row = select(Member).where(Member.id == lead.member_id, *verified).limit(1).lateral("member")
    member = aliased(Member, row)
    return select(member).select_from(lead).join(row, true()).where(*found).order_by(lead.member_id).limit(limit)


# --- the contact course and coverage ----------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    org: str
    month: str
    mobile_members: int
    reached: int
    not_reached: int
    lost_contact: int


def _counted() -> ColumnElement[bool]:
    # Mobile members still in the party: a removed member is no one's to reach.
    return (Member.mobile.is_(True)) & (Member.standing != "removed")


def coverage(database: Database, principal: Principal, org_code: str, month: str) -> Coverage:
    """每月一摸排 of a subtree: its mobile members, how many were reached in the month (China
    time) by a check-in or a reached contact attempt, how many not, how many are lost."""
    start, end = domain.month_bounds(month, clock.CHINA_TIME)
    with database.reader() as session:
        path = scope_path(OrgRepository(session), principal, org_code)
        reached = reached_between(start, end)
        row = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((reached, 1), else_=0)), 0),
                func.coalesce(func.sum(case((Member.lost_contact.is_(True), 1), else_=0)), 0),
            ).where(_counted(), _under(path))
        ).one()
    mobile, reached_count, lost = (int(value) for value in row)
    return Coverage(org_code, month, mobile, reached_count, mobile - reached_count, lost)


def coverage_by_branch(database: Database, start: datetime, end: datetime) -> list[tuple[str, int, int]]:
    """(branch, mobile members, not reached in [start, end)) for every branch with mobile members."""
    with database.reader() as session:
        rows = session.execute(
            select(
                Member.branch_code,
                func.count(),
                func.coalesce(func.sum(case((reached_between(start, end), 0), else_=1)), 0),
            )
            .where(_counted())
            .group_by(Member.branch_code)
            .order_by(Member.branch_code)
        ).all()
    return [(code, int(mobile), int(missing)) for code, mobile, missing in rows]


def not_reached_names(database: Database, branch_code: str, start: datetime, end: datetime, limit: int) -> list[str]:
    """Names of a branch's mobile members not reached in [start, end), at most `limit`."""
    with database.reader() as session:
        return list(
            session.scalars(
                select(Member.name)
                .where(_counted(), Member.branch_code == branch_code, ~reached_between(start, end))
                .order_by(Member.id)
                .limit(limit)
            )
        )


def list_contact_attempts(
    uow: RegistrationUnitOfWork, principal: Principal, member_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A member's contact attempts, newest first, for those who may record them."""
    from services.registration.commands.course import course_member

    after = decode_cursor(cursor)
    with uow:
        member, _ = course_member(uow, principal, member_id, "read the contact attempts of")
        statement = (
            select(ContactAttempt)
            .where(ContactAttempt.member_id == member.id)
            .order_by(ContactAttempt.id.desc())
            .limit(limit + 1)
        )
        if after:
            statement = statement.where(ContactAttempt.id < after[0])
        result = page(uow.session.scalars(statement).all(), limit, key=lambda attempt: (attempt.id,))
        uow.session.expunge_all()
        return result


@dataclass(frozen=True)
class Mobility:
    member_id: str
    mobile: bool
    items: list[dict[str, Any]]


def mobility_history(
    uow: RegistrationUnitOfWork, principal: Principal, member_id: str, masked: bool = False
) -> Mobility:
    """Outflows and inflows of one member, newest first. Their contact phone is personal data: in
    full the read is audited (as a full member read is); `masked` gives it masked, unaudited."""
    with uow.database.reader() as session:
        member = _member_or_refused(principal, session.get(Member, member_id), member_id)
        if not may_read(principal, member):
            raise Forbidden("you may not read this member")
        rows: list[Outflow | Inflow] = [
            *session.scalars(select(Outflow).where(Outflow.member_id == member.id)),
            *session.scalars(select(Inflow).where(Inflow.member_id == member.id)),
        ]
        rows.sort(key=lambda entry: entry.id, reverse=True)
        entries = [_mobility_entry(row, full=not masked) for row in rows]
        history = Mobility(member.id, member.mobile, entries)
    if not masked and any(entry.get("contact_phone") for entry in entries):
        with uow:
            uow.audit(principal, "read_full", "member", member_id, "mobility")
            uow.commit()
    return history


def _mobility_entry(row: Outflow | Inflow, full: bool) -> dict[str, Any]:
    """An outflow or inflow as MobilityEntrySchema dumps it, its contact phone masked unless `full`."""
    entry: dict[str, Any] = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    entry["kind"] = row.kind
    phone = entry.get("contact_phone")
    if phone and not full:
        entry["contact_phone"] = domain.mask_phone(phone)
    return entry


# --- check-ins ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckinList:
    limit: int
    cursor: str | None = None
    member_id: str | None = None
    branch: str | None = None
    since: datetime | None = None


def list_checkins(database: Database, principal: Principal, query: CheckinList) -> dict[str, Any]:
    after = decode_cursor(query.cursor)
    with database.reader() as session:
        orgs = OrgRepository(session)
        statement = select(Checkin).order_by(Checkin.id).limit(query.limit + 1)
        if query.member_id:
            member = _member_or_404(session, query.member_id)
            if not may_read(principal, member):
                raise Forbidden("you may not read this member's check-ins")
            statement = statement.where(Checkin.member_id == member.id)
        elif principal.role == "member":
            statement = statement.where(Checkin.member_id == principal.sub)
        if query.branch:
            branch = orgs.get(query.branch)
            if branch is None:
                raise NotFound(f"org {query.branch} does not exist")
            if not query.member_id and principal.role != "member":
                domain.require_scope(principal, branch.path, "read check-ins")
            statement = statement.where(Checkin.branch_code == branch.code)
        elif not query.member_id and principal.role != "member":
            path = scope_path(orgs, principal, None)
            statement = statement.join(Org, Org.code == Checkin.branch_code).where(Org.path.like(f"{path}%"))
        if query.since:
            statement = statement.where(Checkin.occurred_at >= query.since)
        if after:
            statement = statement.where(Checkin.id > after[0])
        return _detached(session, page(session.scalars(statement).all(), query.limit, key=lambda c: (c.id,)))


# --- dues ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuesList:
    limit: int
    cursor: str | None = None


def list_dues(database: Database, principal: Principal, member_id: str, query: DuesList) -> dict[str, Any]:
    """A member's dues payments, newest first (each moved the month forward, so also by month)."""
    after = decode_cursor(query.cursor)
    with database.reader() as session:
        member = _member_or_refused(principal, session.get(Member, member_id), member_id)
        if not may_read(principal, member):
            raise Forbidden("you may not read this member")
        statement = (
            select(DuesPayment)
            .where(DuesPayment.member_id == member.id)
            .order_by(DuesPayment.id.desc())
            .limit(query.limit + 1)
        )
        if after:
            statement = statement.where(DuesPayment.id < after[0])
        return _detached(session, page(session.scalars(statement).all(), query.limit, key=lambda d: (d.id,)))
