"""Idempotency-Key: a repeated POST with the same key and body gets the first response again.

The key is claimed before the view runs (so a concurrent duplicate gets 409 rather than a
second effect) and the response is stored after it. A 5xx releases the key for a retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from shared.db import Database, UTCDateTime, utcnow

# A claim whose request never finished (a killed worker) is released after this long.
ABANDONED_AFTER = timedelta(minutes=5)


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("owner", String(80), nullable=False),
        Column("key", String(200), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("status", Integer, nullable=True),
        Column("body", LargeBinary, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("owner", "key"),
    )


@dataclass(frozen=True)
class Begin:
    replay: tuple[int, bytes] | None = None
    conflict: str | None = None


class IdempotencyStore:
    def __init__(self, database: Database, table: Table) -> None:
        self.database = database
        self.table = table

    def begin(self, owner: str, key: str, fingerprint: str) -> Begin:
        t = self.table
        where = (t.c.owner == owner, t.c.key == key)
        try:
            with self.database.transaction() as session:
                row = session.execute(
                    select(t.c.fingerprint, t.c.status, t.c.body, t.c.created_at).where(*where)
                ).first()
                if row is None:
                    session.execute(
                        t.insert().values(owner=owner, key=key, fingerprint=fingerprint, created_at=utcnow())
                    )
                    return Begin()
                if row.fingerprint != fingerprint:
                    return Begin(conflict="Idempotency-Key was already used with a different request body")
                if row.status is not None:
                    return Begin(replay=(row.status, row.body or b""))
                if utcnow() - row.created_at > ABANDONED_AFTER:
                    session.execute(update(t).where(*where).values(created_at=utcnow()))
                    return Begin()
                return Begin(conflict="a request with this Idempotency-Key is still in progress")
        except IntegrityError:
            return Begin(conflict="a request with this Idempotency-Key is still in progress")

    def finish(self, owner: str, key: str, status: int, body: bytes) -> None:
        t = self.table
        with self.database.transaction() as session:
            session.execute(
                update(t).where(t.c.owner == owner, t.c.key == key).values(status=status, body=body)
            )

    def abandon(self, owner: str, key: str) -> None:
        t = self.table
        with self.database.transaction() as session:
            session.execute(delete(t).where(t.c.owner == owner, t.c.key == key))
