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

from opentelemetry.trace import Span, SpanKind
from sqlalchemy import and_, func, or_, select, update

from shared import metrics, tracing
from shared.bus import BrokerUnavailable, Publisher
from shared.db import Database, utcnow
from shared.outbox import Outbox

log = logging.getLogger(__name__)

# A claim outlives the longest publish it covers: the publisher waits for confirms up to its
# `confirm_timeout` (30 s by default), and a lease that ended first would let a second relay
# claim and publish the same rows again while the first is still waiting.
CLAIM_LEASE = timedelta(seconds=90)
MAX_BACKOFF_SECONDS = 60.0
# How often the relay counts its backlog for the gauges (a count over the unsent-rows index).
BACKLOG_EVERY_SECONDS = 5.0


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
        self.service = outbox.service
        if CLAIM_LEASE.total_seconds() <= publisher.confirm_timeout:
            raise ValueError("the relay's claim lease must outlive the publisher's confirm timeout")
        self.batch_size = batch_size
        self.stats = RelayStats()
        self.last_beat = time.monotonic()
        self._stopping = False

    def alive(self) -> bool:
        """The relay loop turned recently (a publish waits at most its confirm timeout)."""
        return time.monotonic() - self.last_beat < CLAIM_LEASE.total_seconds()

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
        # The outer `due` is re-checked on the locked row, so two relays never share a row.
        claim = (
            update(t)
            .where(t.c.seq.in_(candidates.scalar_subquery()), due)
            .values(claimed_by=token, claimed_until=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        claimed = select(t.c.seq, t.c.event_id, t.c.event_type, t.c.body, t.c.attempts)
        if not self.database.is_sqlite:
            # One round trip and one transaction: the claimed rows come back from the UPDATE.
            with self.database.transaction() as session:
                rows = session.execute(claim.returning(*claimed.selected_columns)).mappings().all()
            return token, sorted((dict(row) for row in rows), key=lambda row: row["seq"])
        with self.database.transaction() as session:
            session.execute(claim)
        with self.database.reader() as session:
            found = session.execute(
                claimed.where(t.c.claimed_by == token, t.c.sent_at.is_(None)).order_by(t.c.seq)
            ).mappings()
            return token, [dict(row) for row in found]

    def run_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        token, rows = self.claim()
        if not rows:
            return 0
        spans = self._publish_spans(rows)
        sent: list[int] = []
        failures: dict[int, str] = {}
        started = time.perf_counter()
        try:
            results = self.publisher.publish_batch(
                [(row["event_type"], row["event_id"], row["body"].encode()) for row in rows],
                [{"traceparent": header} if header else {} for _span, header in spans] if spans else None,
            )
            for row, error in zip(rows, results, strict=True):
                if error is None:
                    sent.append(row["seq"])
                else:
                    failures[row["seq"]] = error
        except BrokerUnavailable as error:
            failures = {row["seq"]: f"broker unavailable: {error}" for row in rows}
        finally:
            for span, _header in spans:
                span.end()
        metrics.RELAY_CONFIRM_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        self._mark(token, rows, sent, failures)
        self.stats.published += len(sent)
        self.stats.failed += len(failures)
        metrics.RELAY_PUBLISHED.labels(self.service).inc(len(sent))
        metrics.RELAY_FAILED.labels(self.service).inc(len(failures))
        return len(sent)

    def _publish_spans(self, rows: list[dict[str, Any]]) -> list[tuple[Span, str | None]]:
        """A producer span per event, continuing the request that wrote it (only with tracing on)."""
        if not tracing.tracing_on():
            return []
        spans = []
        for row in rows:
            span = tracing.start_span(
                f"publish {row['event_type']}",
                tracing.traceparent_in(row["body"]),
                SpanKind.PRODUCER,
                **{"messaging.system": "rabbitmq", "messaging.message.id": row["event_id"]},
            )
            spans.append((span, tracing.traceparent_of(span)))
        return spans

    def measure_backlog(self) -> None:
        """How many rows wait, and how long the oldest has: the relay's lag, for the gauges."""
        t = self.table
        with self.database.reader() as session:
            pending, oldest = session.execute(
                select(func.count(), func.min(t.c.created_at)).where(t.c.sent_at.is_(None))
            ).one()
        metrics.OUTBOX_PENDING.labels(self.service).set(pending)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(max(0.0, age))

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

    def run_forever(self, poll_interval: float = 0.2, batch_wait: float = 0.0) -> None:
        """Relay until stop(): at once again after a full batch, after `batch_wait` after a
        partial one (under load, events gather: a claim, a confirm wait and a mark serve many),
        after `poll_interval` when there was nothing."""
        log.info("relay started", extra={"table": self.table.name})
        measured_at = 0.0
        while not self._stopping:
            self.last_beat = time.monotonic()
            if time.monotonic() - measured_at > BACKLOG_EVERY_SECONDS:
                measured_at = time.monotonic()
                try:
                    self.measure_backlog()
                except Exception:  # a gauge is not worth stopping the relay for
                    log.warning("could not measure the outbox backlog", exc_info=True)
            try:
                published = self.run_once()
            except Exception:  # keep relaying whatever happened to one batch; the rows stay unsent
                log.exception("relay batch failed")
                published = 0
                time.sleep(1.0)
            if not published:
                self.publisher.keep_alive()
                time.sleep(poll_interval)
            elif published < self.batch_size and batch_wait > 0:
                time.sleep(batch_wait)
        self.publisher.close()
