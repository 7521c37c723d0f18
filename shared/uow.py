"""The unit of work: a change, its events and its audit entries, committed together or not at all.

A use case opens one unit of work, changes its aggregates through the unit's repositories,
`emit`s the integration events the change implies and `audit`s who did it. `commit()` writes
the collected events into the outbox and the entries into the audit log in the same
transaction as the change (on PostgreSQL, for a handful of rows, as one statement), then
commits. Leaving the block without `commit()` rolls everything back, events included, so an
event exists if and only if its change does (the transactional outbox).

Each service subclasses `SqlUnitOfWork` to add its repositories; unit tests subclass
`UnitOfWork` with in-memory repositories, and read `events` and `audits` to check what a use
case decided without a database.

Patterns followed: cosmicpython's `unit_of_work.py` (the context manager, explicit commit,
fakes for the service layer) and eShop's `TransactionBehavior` + `IntegrationEventLogService`
(integration events saved in the transaction of the change that raised them).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from shared import audit
from shared.db import PendingInsert, PendingUpdate, PendingWrite, write_together
from shared.logging import current_request_id

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from shared.db import Database
    from shared.outbox import Outbox

# Up to this many rows go to PostgreSQL as one statement (write_together); more (bulk imports)
# go as one multi-row insert per table.
_TOGETHER_LIMIT = 8


class Caller(Protocol):
    """Who acts: a request's principal, or a worker acting for one."""

    @property
    def sub(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """A caller named explicitly, e.g. by a workflow activity applying a decision made earlier."""

    sub: str
    role: str


@dataclass(frozen=True)
class RaisedEvent:
    """An integration event a use case raised: the outbox row is made from it at commit."""

    event_type: str
    subject: str
    data: dict[str, Any]
    event_id: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which object; never the personal data itself."""

    actor: str
    actor_role: str
    action: str
    object_type: str
    object_id: str
    request_id: str | None = None
    detail: str | None = None
    org: audit.OrgScope | None = None


@dataclass
class UnitOfWork:
    """What every unit of work collects; subclasses decide where it goes on `commit()`."""

    events: list[RaisedEvent] = field(default_factory=list, init=False)
    audits: list[AuditEntry] = field(default_factory=list, init=False)
    committed: bool = field(default=False, init=False)

    def emit(self, event_type: str, subject: str, data: dict[str, Any], event_id: str | None = None) -> None:
        """Raise an event; `event_id` only where the fact has a deterministic id of its own."""
        self.events.append(RaisedEvent(event_type, subject, data, event_id))

    def audit(
        self,
        actor: Caller,
        action: str,
        object_type: str,
        object_id: str,
        detail: str | None = None,
        request_id: str | None = None,
        org: audit.OrgScope | None = None,
    ) -> None:
        """Audit an action. The request id defaults to the current request's; the org it is
        about, unless given, is looked up at commit (`audit_scope`)."""
        self.audits.append(
            AuditEntry(
                actor=actor.sub,
                actor_role=actor.role,
                action=action,
                object_type=object_type,
                object_id=object_id,
                request_id=request_id if request_id is not None else current_request_id(),
                detail=detail,
                org=org,
            )
        )

    def __enter__(self) -> Self:
        self.events.clear()
        self.audits.clear()
        self.committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.rollback()

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        self.events.clear()
        self.audits.clear()


class SqlUnitOfWork(UnitOfWork):
    """A unit of work on one service's database, its outbox and its audit log."""

    def __init__(self, database: Database, outbox: Outbox, audit_log: Table) -> None:
        super().__init__()
        self.database = database
        self.outbox = outbox
        self.audit_log = audit_log
        self._together: list[PendingWrite] = []
        self._session: Session | None = None
        self._turn: AbstractContextManager[None] | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._session

    def write_with_commit(self, row: PendingWrite) -> None:
        """A row of the change (new, or changed by its key) to write at commit, together with
        the events and audit entries (one statement on PostgreSQL: a check-in, the member's
        last contact, its event and its audit in one round trip)."""
        self._together.append(row)

    def __enter__(self) -> Self:
        super().__enter__()
        self._together.clear()
        self._turn = self.database.write_turn()
        self._turn.__enter__()
        try:
            self._session = self.database.writer_session()
            self._session.begin()
        except BaseException:
            self._end_turn()
            raise
        return self

    def _end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.__exit__(None, None, None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, traceback)
        finally:
            try:
                if self._session is not None:
                    self._session.close()
                    self._session = None
            finally:
                self._end_turn()

    def commit(self) -> None:
        session = self.session
        rows: list[PendingWrite] = [
            *self._together,
            *(
                self.outbox.pending(event.event_type, event.subject, event.data, event.event_id)
                for event in self.events
            ),
            *(PendingInsert(self.audit_log, audit_row(self._scoped(entry))) for entry in self.audits),
        ]
        if len(rows) <= _TOGETHER_LIMIT:
            write_together(session, rows)
        else:
            _insert_by_table(session, rows)
        session.commit()
        self._together.clear()
        super().commit()

    def audit_scope(self, object_type: str, object_id: str) -> audit.OrgScope | None:
        """The org an audited object belongs to, for the audit reader's scope (each service
        knows its own objects; None: the entry is for admins only)."""
        return None

    def _scoped(self, entry: AuditEntry) -> AuditEntry:
        if entry.org is not None:
            return entry
        org = self.audit_scope(entry.object_type, entry.object_id)
        return entry if org is None else replace(entry, org=org)

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
        self._together.clear()
        super().rollback()


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    return audit.row(
        entry.actor,
        entry.actor_role,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.request_id,
        entry.detail,
        entry.org,
    )


def _insert_by_table(session: Session, rows: list[PendingWrite]) -> None:
    """Rows in their order, consecutive rows of one table and one shape as one multi-row insert
    (an update on its own)."""
    batch: list[PendingInsert] = []
    for row in rows:
        if isinstance(row, PendingUpdate):
            if batch:
                session.execute(batch[0].table.insert(), [pending.values for pending in batch])
                batch = []
            write_together(session, [row])
            continue
        if batch and (row.table is not batch[0].table or row.values.keys() != batch[0].values.keys()):
            session.execute(batch[0].table.insert(), [pending.values for pending in batch])
            batch = []
        batch.append(row)
    if batch:
        session.execute(batch[0].table.insert(), [pending.values for pending in batch])
