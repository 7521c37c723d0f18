"""The inbox: (consumer, event id) written in the same transaction as a consumer's effect,
so that a redelivered event has no effect twice."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, select
from sqlalchemy.orm import Session

from shared.db import UTCDateTime, utcnow


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(80), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


def first_delivery(session: Session, table: Table, consumer: str, event_id: str, event_type: str) -> bool:
    """Record the event as processed; False if it already was (then do nothing).

    Call it first inside the handler's transaction. A concurrent duplicate fails on the
    primary key at commit, which rolls back its effects too.
    """
    seen = session.scalar(
        select(table.c.event_id).where(table.c.consumer == consumer, table.c.event_id == event_id)
    )
    if seen is not None:
        return False
    session.execute(
        table.insert().values(
            consumer=consumer, event_id=event_id, event_type=event_type, processed_at=utcnow()
        )
    )
    return True
