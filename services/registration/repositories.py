"""Repositories of the registration service: its aggregates over one Session.

Use cases load and add through these (the unit of work exposes them), so a unit test can swap in
in-memory ones; the atomic conditional statements (the card-number counter) are methods here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.registration.domain import CONTACT_FIELDS, Box, MemberContact
from services.registration.models import (
    CardCounter,
    Checkin,
    ContactAttempt,
    DuesPayment,
    Inflow,
    Member,
    Org,
    Outflow,
    RelationshipMove,
    StaffAssignment,
    StandingDecision,
    Station,
)
from services.registration.name_grams import add_grams, replace_grams
from shared.db import PendingInsert, PendingUpdate, PendingWrite, SettledRows, table_of

# SQLite caps bound parameters per statement.
_IN_CHUNK = 500


# Orgs are create-only (code, level, path and name never change): read once per process.
_SETTLED_ORGS = SettledRows(Org)


class OrgRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> Org | None:
        return _SETTLED_ORGS.get(self.session, code)

    def known(self, code: str) -> Org | None:
        """The org as a read-only copy, not in the session (hot paths that read its code,
        level and path only, such as a check-in's branch)."""
        return _SETTLED_ORGS.peek(self.session, code)

    def add(self, org: Org) -> None:
        self.session.add(org)

    def levels_of(self, org: Org) -> dict[str, str]:
        """level -> code of the org and each of its ancestors (levels may be skipped in a tree)."""
        rows = self.session.execute(select(Org.level, Org.code).where(Org.code.in_(org.path_codes))).all()
        return {level: code for level, code in rows}

    def branches_in_region(self, prefix: str, limit: int) -> Sequence[Org]:
        """Branches whose region starts with `prefix`, the most specific region first."""
        return self.session.scalars(
            select(Org)
            .where(Org.level == "branch", Org.region.like(f"{prefix}%"))
            .order_by(func.length(Org.region).desc(), Org.code)
            .limit(limit)
        ).all()


_MEMBERS = table_of(Member)
_CONTACT_OF = select(
    *(_MEMBERS.c[name] for name in ("id", "name", "branch_code", "branch_path", *CONTACT_FIELDS))
).where(_MEMBERS.c.id == bindparam("member_id"))


class MemberRepository:
    def __init__(self, session: Session, with_commit: Callable[[PendingWrite], None] | None = None) -> None:
        self.session = session
        self.with_commit = with_commit

    def get(self, member_id: str) -> Member | None:
        return self.session.get(Member, member_id)

    def contact_of(self, member_id: str) -> MemberContact | None:
        """What a check-in needs of the member, by one prebuilt statement (the ORM's get builds
        and tracks the whole record: a third of a check-in's CPU)."""
        row = self.session.connection().execute(_CONTACT_OF, {"member_id": member_id}).one_or_none()
        return None if row is None else MemberContact(*row)

    def move_contact(self, member: MemberContact, counted: bool) -> None:
        """Write the member's contact back with the commit (its version counted up in SQL when
        `counted`), in the statement of the check-in, its event and its audit on PostgreSQL. All
        four contact fields, as the one decision they are: a lost flag set meanwhile by a sweep
        that read the older contact gives way to this fresher one."""
        if self.with_commit is None:
            raise RuntimeError("move_contact needs the unit of work's write_with_commit")
        self.with_commit(
            PendingUpdate(_MEMBERS, {"id": member.id}, member.contact(), ("version",) if counted else ())
        )

    def add(self, member: Member) -> None:
        self.session.add(member)

    def id_number_taken(self, id_number: str) -> bool:
        return self.session.scalar(select(Member.id).where(Member.id_number == id_number)) is not None

    def branch_paths_of_id_numbers(self, id_numbers: list[str]) -> dict[str, str]:
        """id_number -> branch_path of those already registered."""
        found: dict[str, str] = {}
        for start in range(0, len(id_numbers), _IN_CHUNK):
            chunk = id_numbers[start : start + _IN_CHUNK]
            rows = self.session.execute(
                select(Member.id_number, Member.branch_path).where(Member.id_number.in_(chunk))
            ).all()
            found.update({number: branch for number, branch in rows})
        return found

    def update_if_version(self, member: Member, version: int, values: dict[str, Any]) -> bool:
        """Write `values` and bump the version in one conditional UPDATE, only where the row still
        has `version` (the ETag the caller read): False if another change came first. The
        database decides, so two editors holding one ETag can never both write."""
        result = self.session.execute(
            update(Member)
            .where(Member.id == member.id, Member.version == version)
            .values(**values, version=Member.version + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if "name" in values and values["name"] != member.name:
            # A statement, not the ORM: the name search's grams follow here, not by the event.
            replace_grams(self.session.connection(), member.id, member.name, values["name"], member.branch_path)
        self.session.refresh(member)
        return True

    def advance_dues(self, member: Member, paid_through: str) -> bool:
        """Move dues_paid_through forward to `paid_through`, only if it is still before it (one
        conditional UPDATE: of two payments racing for one month, one wins)."""
        result = self.session.execute(
            update(Member)
            .where(Member.id == member.id, Member.dues_paid_through < paid_through)
            .values(dues_paid_through=paid_through, version=Member.version + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.session.refresh(member)
        return True

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Many new members as one multi-row insert: 10,000 rows must import in seconds."""
        if rows:
            self.session.execute(insert(Member), rows)
            add_grams(self.session.connection(), rows)

    def out_of_contact(self, cutoff: datetime, limit: int) -> Sequence[Member]:
        """Members not yet flagged whose last contact is before `cutoff`, oldest first, locked;
        rows another sweep holds are skipped, not waited for."""
        return self.session.scalars(
            select(Member)
            .where(Member.lost_contact.is_(False), Member.last_contact_at < cutoff)
            .order_by(Member.last_contact_at, Member.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()


    def lost_without_episode(self, day: date) -> int:
        """Members flagged lost before episodes were dated (or by an older sweep) start their
        episode on `day`. Returns how many."""
        statement = (
            update(Member)
            .where(Member.lost_contact.is_(True), Member.lost_contact_since.is_(None))
            .values(lost_contact_since=day)
        )
        return int(self.session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]

    def suspension_candidates(self, lost_on_or_before: date, after: str, limit: int) -> Sequence[Member]:
        """Lost members (by id, after `after`) whose episode began by `lost_on_or_before` and whose
        suspension-due notice has not gone out, locked; rows another sweep holds are skipped."""
        return self.session.scalars(
            select(Member)
            .where(
                Member.lost_contact.is_(True),
                Member.suspension_due_on.is_(None),
                Member.lost_contact_since <= lost_on_or_before,
                Member.id > after,
            )
            .order_by(Member.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()


class ContactRepository:
    """Contact attempts and standing decisions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_attempt(self, attempt: ContactAttempt) -> None:
        self.session.add(attempt)

    def add_decision(self, decision: StandingDecision) -> None:
        self.session.add(decision)

    def failed_attempts_since(self, member_id: str, since: datetime) -> int:
        """The member's not_reached attempts at or after `since`."""
        return int(
            self.session.scalar(
                select(func.count()).where(
                    ContactAttempt.member_id == member_id,
                    ContactAttempt.result == "not_reached",
                    ContactAttempt.attempted_at >= since,
                )
            )
            or 0
        )


class CheckinRepository:
    def __init__(self, session: Session, with_commit: Callable[[PendingWrite], None] | None = None) -> None:
        self.session = session
        self.with_commit = with_commit

    def add(self, checkin: Checkin) -> None:
        """Add a check-in. Given the unit of work's `write_with_commit`, its row is written with
        the commit, in the statement that writes its event and audit entry (one round trip on
        PostgreSQL); the returned object is then not in the session."""
        if self.with_commit is None:
            self.session.add(checkin)
            return
        table = table_of(Checkin)
        self.with_commit(
            PendingInsert(table, {column.key: getattr(checkin, column.key) for column in table.columns})
        )

    def add_once_a_day(self, checkin: Checkin) -> None:
        """Add a check-in by scan and write it now: the unique key on (member, station, China
        day) refuses a second one here, as IntegrityError, whoever raced whom."""
        self.session.add(checkin)
        self.session.flush()

    def at_station_on(self, member_id: str, station_code: str, day: date) -> Checkin | None:
        """The member's scan check-in at a station on a China day (at most one: a unique key)."""
        return self.session.scalar(
            select(Checkin).where(
                Checkin.member_id == member_id,
                Checkin.station_code == station_code,
                Checkin.station_day == day,
            )
        )


class StationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> Station | None:
        return self.session.get(Station, code)

    def add(self, station: Station) -> None:
        self.session.add(station)

    def in_region(self, prefix: str, limit: int) -> Sequence[Station]:
        """Stations whose region starts with `prefix`, the most specific region first."""
        return self.session.scalars(
            select(Station)
            .where(Station.region.like(f"{prefix}%"))
            .order_by(func.length(Station.region).desc(), Station.code)
            .limit(limit)
        ).all()

    def many(self, codes: list[str]) -> Sequence[Station]:
        return self.session.scalars(select(Station).where(Station.code.in_(codes))).all() if codes else []

    def points_in_box(self, box: Box) -> list[tuple[str, float, float]]:
        """(code, latitude, longitude) of the stations inside a box: one range of the
        (lat_band, longitude) index per latitude band the box spans, only the columns the caller
        ranks by (it loads the few it keeps in full)."""
        statement = select(Station.code, Station.latitude, Station.longitude).where(
            Station.latitude.between(box.min_lat, box.max_lat), Station.longitude.is_not(None)
        )
        bands = box.bands
        if bands is not None:
            statement = statement.where(Station.lat_band.in_(bands))
        if box.min_lon is not None and box.max_lon is not None:
            statement = statement.where(Station.longitude.between(box.min_lon, box.max_lon))
        # On the connection: plain rows, without the ORM's per-statement work (this runs a few
        # times per request).
        rows = self.session.connection().execute(statement)
        return [(code, float(lat or 0.0), float(lon or 0.0)) for code, lat, lon in rows]


class MobilityRepository:
    """Outflows, inflows and the activity-card counter."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_outflow(self, outflow: Outflow) -> None:
        self.session.add(outflow)

    def add_inflow(self, inflow: Inflow) -> None:
        self.session.add(inflow)

    def open_outflow(self, member_id: str) -> Outflow | None:
        """The member's open outflow (at most one: a partial unique index)."""
        return self.session.scalar(
            select(Outflow).where(Outflow.member_id == member_id, Outflow.closed_on.is_(None))
        )

    def close_outflow(
        self, outflow: Outflow, on: date, reason: str, by: str, note: str | None = None
    ) -> bool:
        """Close an open outflow; False if it was closed meanwhile (a conditional UPDATE)."""
        result = self.session.execute(
            update(Outflow)
            .where(Outflow.id == outflow.id, Outflow.closed_on.is_(None))
            .values(closed_on=on, closed_reason=reason, closed_by=by, close_note=note)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.session.refresh(outflow)
        return True

    def end_inflows(self, member_id: str, on: date) -> int:
        """End the member's open inflow, if any (written now, so a new one may follow)."""
        result = self.session.execute(
            update(Inflow)
            .where(Inflow.member_id == member_id, Inflow.ended_on.is_(None))
            .values(ended_on=on)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def next_card_number(self, county_code: str, year: int) -> int:
        """Sequential per county and year: one atomic upsert, so concurrent outflows queue on the
        counter row (PostgreSQL row lock, SQLite write lock) and never share or skip a number."""
        upsert = postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = (
            upsert(CardCounter)
            .values(county_code=county_code, year=year, last_no=1)
            .on_conflict_do_update(
                index_elements=[CardCounter.county_code, CardCounter.year],
                set_={"last_no": CardCounter.last_no + 1},
            )
            .returning(CardCounter.last_no)
        )
        return int(self.session.execute(statement).scalar_one())


class DuesRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, payment: DuesPayment) -> None:
        self.session.add(payment)
        # Written now: the answer carries the amount as the database keeps it.
        self.session.flush()


class RelationshipMoveRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, transfer_id: str) -> RelationshipMove | None:
        return self.session.get(RelationshipMove, transfer_id)

    def add(self, move: RelationshipMove) -> None:
        self.session.add(move)


class StaffRepository:
    """The staff directory: assignments of a person (`subject`) to a role in an org."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, staff_id: str) -> StaffAssignment | None:
        return self.session.get(StaffAssignment, staff_id)

    def find(self, org_code: str, subject: str, role: str) -> StaffAssignment | None:
        return self.session.scalar(
            select(StaffAssignment).where(
                StaffAssignment.org_code == org_code,
                StaffAssignment.subject == subject,
                StaffAssignment.role == role,
            )
        )

    def add(self, assignment: StaffAssignment) -> None:
        self.session.add(assignment)

    def remove(self, assignment: StaffAssignment) -> None:
        self.session.delete(assignment)
