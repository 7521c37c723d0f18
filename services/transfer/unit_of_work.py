"""The transfer service's units of work: its outbox and audit log, its repository, its collaborators.

`ProjectionUnitOfWork` is what the worker's steps write through (acting for a caller named in
the step, `shared.uow.Actor`); `TransferUnitOfWork` adds what the API's use cases talk to: the
registration client, the Temporal gateway and the settings they plan with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from services.transfer.models import Transfer, audit_log, outbox
from services.transfer.queries import current_row, current_with_chain, last_urge
from services.transfer.repositories import TransferRepository
from shared.audit import OrgScope
from shared.uow import SqlUnitOfWork

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Row

    from services.transfer.clients import Registration, TransferProcesses
    from services.transfer.settings import TransferSettings
    from shared.db import Database


class ProjectionUnitOfWork(SqlUnitOfWork):
    transfers: TransferRepository

    def __init__(self, database: Database) -> None:
        super().__init__(database, outbox, audit_log)

    def __enter__(self) -> Self:
        super().__enter__()
        self.transfers = TransferRepository(self.session)
        return self

    def audit_scope(self, object_type: str, object_id: str) -> OrgScope | None:
        """A transfer's entries belong to its sending branch (where the member's record is)."""
        if object_type != "transfer":
            return None
        transfer = self.session.get(Transfer, object_id)
        return OrgScope(transfer.from_branch_code, transfer.from_path) if transfer else None


class TransferUnitOfWork(ProjectionUnitOfWork):
    def __init__(
        self,
        database: Database,
        registration: Registration,
        processes: TransferProcesses,
        settings: TransferSettings,
    ) -> None:
        super().__init__(database)
        self.registration = registration
        self.processes = processes
        self.settings = settings

    def current(self, transfer_id: str) -> Row[Any]:
        """The projection row as it stands, read outside the unit's transaction: the checks before
        a workflow update must not hold the writer's lock while the workflow writes its step."""
        return current_row(self.database, transfer_id)

    def current_with_chain(self, transfer_id: str) -> tuple[Row[Any], frozenset[str]]:
        """The row and the orgs of its plan's stages, read as `current` is."""
        return current_with_chain(self.database, transfer_id)

    def last_urge(self, transfer_id: str, stage: str, actor: str) -> datetime | None:
        return last_urge(self.database, transfer_id, stage, actor)


@dataclass
class TransferDeps:
    """What the API's requests share; one per process, stored in the service context."""

    settings: TransferSettings
    database: Database
    registration: Registration
    processes: TransferProcesses

    def uow(self) -> TransferUnitOfWork:
        """A unit of work for one use case (it holds that use case's session and events)."""
        return TransferUnitOfWork(self.database, self.registration, self.processes, self.settings)
