"""The registration unit of work: its tables, outbox and audit log, and its repositories."""

from __future__ import annotations

from typing import Self

from services.registration.models import Checkin, Member, StaffAssignment, Station, audit_log, outbox
from services.registration.repositories import (
    CheckinRepository,
    ContactRepository,
    DuesRepository,
    MemberRepository,
    MobilityRepository,
    OrgRepository,
    RelationshipMoveRepository,
    StaffRepository,
    StationRepository,
)
from services.registration.settings import DEV_ID_HASH_KEY
from shared.audit import OrgScope
from shared.db import Database
from shared.uow import SqlUnitOfWork


class RegistrationUnitOfWork(SqlUnitOfWork):
    """`with uow:` opens a transaction and binds the repositories to it; `uow.commit()` writes
    the change with its events and audit entries."""

    orgs: OrgRepository
    members: MemberRepository
    checkins: CheckinRepository
    mobility: MobilityRepository
    moves: RelationshipMoveRepository
    stations: StationRepository
    staff: StaffRepository
    dues: DuesRepository
    contacts: ContactRepository

    def __init__(self, database: Database, id_hash_key: str = DEV_ID_HASH_KEY) -> None:
        super().__init__(database, outbox, audit_log)
        # The key of members.id_number_hash: the API passes the configured one.
        self.id_hash_key = id_hash_key

    def __enter__(self) -> Self:
        super().__enter__()
        session = self.session
        self.orgs = OrgRepository(session)
        self.members = MemberRepository(session, self.write_with_commit)
        self.checkins = CheckinRepository(session, self.write_with_commit)
        self.mobility = MobilityRepository(session)
        self.moves = RelationshipMoveRepository(session)
        self.stations = StationRepository(session)
        self.staff = StaffRepository(session)
        self.dues = DuesRepository(session)
        self.contacts = ContactRepository(session)
        return self

    def audit_scope(self, object_type: str, object_id: str) -> OrgScope | None:
        """The org of an audited object: a member's branch, an org itself, where a check-in
        landed, a station's host, a staff assignment's org. (Mostly already in the session.)"""
        session = self.session
        code: str | None = None
        if object_type == "member":
            member = session.get(Member, object_id)
            return OrgScope(member.branch_code, member.branch_path) if member else None
        if object_type == "org":
            code = object_id
        elif object_type == "checkin":
            code = self._pending_checkin_branch(object_id)
            if code is None:
                checkin = session.get(Checkin, object_id)
                code = checkin.branch_code if checkin else None
        elif object_type == "station":
            station = session.get(Station, object_id)
            return OrgScope(station.host_org_code, station.host_path) if station else None
        elif object_type == "staff":
            assignment = session.get(StaffAssignment, object_id)
            code = assignment.org_code if assignment else None
        org = self.orgs.known(code) if code else None
        return OrgScope(org.code, org.path) if org else None

    def _pending_checkin_branch(self, checkin_id: str) -> str | None:
        """Where a check-in waiting to be written with the commit landed (CheckinRepository.add
        defers its row to the commit's statement, so it is not in the session yet)."""
        for row in self._together:
            if row.table is Checkin.__table__ and row.values.get("id") == checkin_id:
                return str(row.values["branch_code"])
        return None
