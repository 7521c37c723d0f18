"""The transactional outbox: the table, and the append a use case makes in its transaction.

A use case appends its events to the outbox table in the same transaction as its change (its
unit of work, `shared.uow`, does it at commit), so an event exists if and only if the change
does. Publishing them is the relay's job (`shared.relay`), in a process of its own: this module
knows nothing of the broker, so the services' models never pull in pika.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Session

from shared.db import PendingInsert, UTCDateTime
from shared.events import Envelope, make_envelope
from shared.logging import current_correlation_id


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        # A surrogate sequence keeps publication in commit-ish order per service.
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("subject", String(100), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("sent_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime(), nullable=True),
        Column("claimed_by", String(40), nullable=True),
        Column("claimed_until", UTCDateTime(), nullable=True),
        Column("last_error", Text, nullable=True),
        Index("ix_outbox_unsent", "sent_at", "seq"),
    )


class Outbox:
    """One service's outbox: `add` inside a use case's transaction."""

    def __init__(self, table: Table, service: str) -> None:
        self.table = table
        self.service = service
        # Built once: values passed as parameters keep SQLAlchemy's compiled-statement cache hot.
        self._insert = table.insert()

    def add(self, session: Session, event_type: str, subject: str, data: dict[str, Any]) -> Envelope:
        envelope = make_envelope(event_type, self.service, subject, data, current_correlation_id())
        session.execute(self._insert, self._row(envelope))
        return envelope

    def pending(
        self, event_type: str, subject: str, data: dict[str, Any], event_id: str | None = None
    ) -> PendingInsert:
        """The row that `add` writes, for a use case to write together with its others
        (shared.db.write_together), inside its transaction."""
        envelope = make_envelope(event_type, self.service, subject, data, current_correlation_id(), event_id)
        return PendingInsert(self.table, self._row(envelope))

    @staticmethod
    def _row(envelope: Envelope) -> dict[str, Any]:
        return {
            "event_id": envelope.id,
            "event_type": envelope.type,
            "subject": envelope.subject,
            "body": envelope.to_json().decode(),
            "created_at": envelope.time,
            "attempts": 0,
        }

    def add_many(
        self, session: Session, event_type: str, events: list[tuple[str, dict[str, Any]]]
    ) -> list[Envelope]:
        """Many events of one type as one multi-row insert (bulk use cases such as imports)."""
        correlation_id = current_correlation_id()
        envelopes = [
            make_envelope(event_type, self.service, subject, data, correlation_id) for subject, data in events
        ]
        if envelopes:
            session.execute(self._insert, [self._row(envelope) for envelope in envelopes])
        return envelopes

    def pending_count(self, session: Session) -> int:
        return session.scalar(select(func.count()).where(self.table.c.sent_at.is_(None))) or 0
