"""The dashboards' figures of a subtree: a breakdown by child org and the flows by province.

Each is one grouped count over an index range of the members table (the scope's branch path, or
the open inflow's path), never a read of the rows into Python: the group key is cut out of the
path in SQL, so the cost is one pass over the subtree's index entries, whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from services.registration import domain
from services.registration.models import Member, Org
from services.registration.queries import reached_between, scope_path
from services.registration.regions import PROVINCES
from services.registration.repositories import OrgRepository
from shared import clock
from shared.auth import Principal
from shared.db import Database
from shared.sql_paths import segment_after


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def dues_behind(month: str) -> ColumnElement[bool]:
    """欠缴党费: dues paid through a month before `month` (the current China month), as the sending
    branch's approval of a transfer reads them (`months_behind` > 0)."""
    return Member.dues_paid_through < month


def _in_party() -> ColumnElement[bool]:
    # A removed member is no one's to reach or to collect dues from.
    return Member.standing != "removed"


@dataclass(frozen=True)
class Figures:
    members: int
    mobile_members: int
    reached: int
    not_reached: int
    lost_contact: int
    dues_behind: int


@dataclass(frozen=True)
class ChildFigures(Figures):
    org_code: str
    name: str
    level: str


@dataclass(frozen=True)
class Breakdown:
    org: str
    month: str
    dues_month: str
    totals: Figures
    items: list[ChildFigures]


def breakdown(database: Database, principal: Principal, org_code: str, month: str) -> Breakdown:
    """The subtree's figures per child org (every child, with zeros) and in total: members,
    mobile members, reached and not reached in `month` (China time, as coverage counts them),
    lost contact among the mobile, and dues behind the current China month."""
    start, end = domain.month_bounds(month, clock.CHINA_TIME)
    this_month = clock.current_month()
    with database.reader() as session:
        orgs = OrgRepository(session)
        path = scope_path(orgs, principal, org_code)
        child = segment_after(Member.branch_path, path)
        in_scope = (Member.branch_path.like(f"{path}%"), _in_party())
        mobile = Member.mobile.is_(True)
        # Two grouped counts over the same index range: the plain figures of every member, then
        # the reach of the mobile ones only (its subqueries would otherwise be costed, and on
        # PostgreSQL JIT-compiled, for every member of a province).
        rows = session.execute(
            select(
                child,
                func.count(),
                _count(mobile),
                _count(and_(mobile, Member.lost_contact.is_(True))),
                _count(dues_behind(this_month)),
            )
            .where(*in_scope)
            .group_by(child)
        ).all()
        reached_rows = session.execute(
            select(child, _count(reached_between(start, end))).where(*in_scope, mobile).group_by(child)
        ).all()
        children = session.execute(
            select(Org.code, Org.name, Org.level).where(Org.parent_code == org_code).order_by(Org.code)
        ).all()
    reached = {code: int(count) for code, count in reached_rows}
    counted = {
        code: [int(members), int(mobile_count), reached.get(code, 0), int(lost), int(behind)]
        for code, members, mobile_count, lost, behind in rows
    }
    items = [
        ChildFigures(**vars(_figures(counted.get(code))), org_code=code, name=name, level=level)
        for code, name, level in children
    ]
    totals = [sum(values[index] for values in counted.values()) for index in range(5)]
    return Breakdown(org_code, month, this_month, _figures(totals), items)


def _figures(values: list[int] | None) -> Figures:
    members, mobile, reached, lost, behind = values or [0, 0, 0, 0, 0]
    return Figures(members, mobile, reached, mobile - reached, lost, behind)


@dataclass(frozen=True)
class ProvinceCount:
    code: str
    name: str
    count: int


@dataclass(frozen=True)
class Flows:
    org: str
    outflows: list[ProvinceCount]
    inflows: list[ProvinceCount]


def flows(database: Database, principal: Principal, org_code: str) -> Flows:
    """Where the subtree's mobile members went (the open outflow's destination province, a GB/T
    2260 code such as 330000) and where the members with an open inflow in the subtree come from
    (their home branch's province-level org), most first."""
    root = f"/{domain.ROOT_CODE}/"
    with database.reader() as session:
        path = scope_path(OrgRepository(session), principal, org_code)
        province = func.substr(Member.destination_region, 1, 2)
        out_rows = session.execute(
            select(province, func.count())
            .where(
                Member.branch_path.like(f"{path}%"),
                Member.mobile.is_(True),
                _in_party(),
                Member.destination_region.is_not(None),
            )
            .group_by(province)
        ).all()
        home = segment_after(Member.branch_path, root)
        in_rows = session.execute(
            select(home, func.count())
            .where(Member.inflow_branch_path.like(f"{path}%"), _in_party())
            .group_by(home)
        ).all()
        names = dict(
            session.execute(
                select(Org.code, Org.name).where(Org.code.in_([code for code, _ in in_rows]))
            ).all()
        )
    outflows = [
        ProvinceCount(f"{code}0000", PROVINCES.get(code, ""), int(count)) for code, count in out_rows if code
    ]
    inflows = [ProvinceCount(code, names.get(code, ""), int(count)) for code, count in in_rows if code]
    return Flows(org_code, _most_first(outflows), _most_first(inflows))


def _most_first(counts: list[ProvinceCount]) -> list[ProvinceCount]:
    return sorted(counts, key=lambda item: (-item.count, item.code))
