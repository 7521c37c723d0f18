"""The transactional outbox and its relay.

A use case appends its events to the outbox table in the same transaction as its change,
so an event exists if and only if the change does. The relay then claims unsent rows,
publishes them with publisher confirms and `mandatory`, and marks them sent. When the broker
is down nothing is lost: rows stay unsent and are retried with backoff.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
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
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from shared.bus import BrokerUnavailable, Publisher
from shared.db import Database, PendingInsert, UTCDateTime, utcnow
from shared.events import Envelope, make_envelope
from shared.logging import current_correlation_id

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=30)
MAX_BACKOFF_SECONDS = 60.0


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

    def pending(self, event_type: str, subject: str, data: dict[str, Any]) -> PendingInsert:
        """The row that `add` writes, for a use case to write together with its others
        (shared.db.insert_together), inside its transaction."""
        envelope = make_envelope(event_type, self.service, subject, data, current_correlation_id())
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
        from sqlalchemy import func

        return session.scalar(select(func.count()).where(self.table.c.sent_at.is_(None))) or 0


@dataclass
class RelayStats:
    published: int = 0
    failed: int = 0


class Relay:
    """Moves outbox rows to the broker. Several relays may run: each claims rows with a lease."""

    def __init__(
        self, database: Database, outbox: Outbox, publisher: Publisher, batch_size: int = 200
    ) -> None:
        self.database = database
        self.table = outbox.table
        self.publisher = publisher
        self.batch_size = batch_size
        self.stats = RelayStats()
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    def claim(self) -> tuple[str, list[dict[str, Any]]]:
        """Lease a batch of due rows to this relay. Safe with concurrent relays on both databases."""
        token = secrets.token_hex(8)
        now = utcnow()
        t = self.table
        due = and_(
            t.c.sent_at.is_(None),
            or_(t.c.claimed_until.is_(None), t.c.claimed_until < now),
            or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now),
        )
        candidates = select(t.c.seq).where(due).order_by(t.c.seq).limit(self.batch_size)
        if not self.database.is_sqlite:
            candidates = candidates.with_for_update(skip_locked=True)
        with self.database.transaction() as session:
            # The outer `due` is re-checked on the locked row, so two relays never share a row.
            session.execute(
                update(t)
                .where(t.c.seq.in_(candidates.scalar_subquery()), due)
                .values(claimed_by=token, claimed_until=now + CLAIM_LEASE)
                .execution_options(synchronize_session=False)
            )
        with self.database.reader() as session:
            rows = session.execute(
                select(t.c.seq, t.c.event_id, t.c.event_type, t.c.body, t.c.attempts)
                .where(t.c.claimed_by == token, t.c.sent_at.is_(None))
                .order_by(t.c.seq)
            ).mappings()
            return token, [dict(row) for row in rows]

    def run_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        token, rows = self.claim()
        if not rows:
            return 0
        sent: list[int] = []
        failures: dict[int, str] = {}
        try:
            results = self.publisher.publish_batch(
                [(row["event_type"], row["event_id"], row["body"].encode()) for row in rows]
            )
            for row, error in zip(rows, results, strict=True):
                if error is None:
                    sent.append(row["seq"])
                else:
                    failures[row["seq"]] = error
        except BrokerUnavailable as error:
            failures = {row["seq"]: f"broker unavailable: {error}" for row in rows}
        self._mark(token, rows, sent, failures)
        self.stats.published += len(sent)
        self.stats.failed += len(failures)
        return len(sent)

    def _mark(
        self, token: str, rows: list[dict[str, Any]], sent: list[int], failures: dict[int, str]
    ) -> None:
        t = self.table
        now = utcnow()
        attempts = {row["seq"]: row["attempts"] for row in rows}
        with self.database.transaction() as session:
            if sent:
                session.execute(
                    update(t)
                    .where(t.c.seq.in_(sent), t.c.claimed_by == token)
                    .values(sent_at=now, claimed_by=None, claimed_until=None, last_error=None)
                    .execution_options(synchronize_session=False)
                )
            for seq, error in failures.items():
                tries = attempts[seq] + 1
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(tries, 10)) * random.uniform(0.5, 1.0)
                session.execute(
                    update(t)
                    .where(t.c.seq == seq, t.c.claimed_by == token)
                    .values(
                        attempts=tries,
                        next_attempt_at=now + timedelta(seconds=delay),
                        claimed_by=None,
                        claimed_until=None,
                        last_error=error[:500],
                    )
                )

    def run_forever(self, poll_interval: float = 0.2) -> None:
        log.info("relay started", extra={"table": self.table.name})
        while not self._stopping:
            try:
                published = self.run_once()
            except Exception:  # keep relaying whatever happened to one batch; the rows stay unsent
                log.exception("relay batch failed")
                published = 0
                time.sleep(1.0)
            if not published:
                self.publisher.keep_alive()
                time.sleep(poll_interval)
        self.publisher.close()
