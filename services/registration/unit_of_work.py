"""The registration unit of work: its tables, outbox and audit log, and its repositories."""

from __future__ import annotations

from typing import Self

from services.registration.models import audit_log, outbox
from services.registration.repositories import (
    CheckinRepository,
    DuesRepository,
    MemberRepository,
    MobilityRepository,
    OrgRepository,
    RelationshipMoveRepository,
    StaffRepository,
    StationRepository,
)
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

    def __init__(self, database: Database) -> None:
        super().__init__(database, outbox, audit_log)

    def __enter__(self) -> Self:
        super().__enter__()
        session = self.session
        self.orgs = OrgRepository(session)
        self.members = MemberRepository(session)
        self.checkins = CheckinRepository(session)
        self.mobility = MobilityRepository(session)
        self.moves = RelationshipMoveRepository(session)
        self.stations = StationRepository(session)
        self.staff = StaffRepository(session)
        self.dues = DuesRepository(session)
        return self
