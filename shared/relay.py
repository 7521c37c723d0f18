"""The outbox relay: moves a service's committed events from its outbox table to the broker.

It claims unsent rows with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), publishes them
persistent and `mandatory` with publisher confirms, and marks them sent. When the broker is down
nothing is lost: rows stay unsent and are retried with backoff. Several relays may run.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from shared.bus import BrokerUnavailable, Publisher
from shared.db import Database, utcnow
from shared.outbox import Outbox

log = logging.getLogger(__name__)

# A claim outlives the longest publish it covers: the publisher waits for confirms up to its
# `confirm_timeout` (30 s by default), and a lease that ended first would let a second relay
# claim and publish the same rows again while the first is still waiting.
CLAIM_LEASE = timedelta(seconds=90)
MAX_BACKOFF_SECONDS = 60.0


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
        if CLAIM_LEASE.total_seconds() <= publisher.confirm_timeout:
            raise ValueError("the relay's claim lease must outlive the publisher's confirm timeout")
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
