"""Retention: rows that have done their job are pruned (or archived) in small batches.

Sent outbox rows, inbox rows and idempotency keys are only needed for a while (a relay's retry,
a redelivery, a client's retry); notifications older than a year leave the live table for an
archive. Each batch is its own short transaction, keyed by the primary key and, on PostgreSQL,
skipping rows another transaction holds, so pruning a million rows never holds a long lock or
blocks a relay, a consumer or a request (`bench/retention.py` measures it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, insert, select, tuple_
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from shared.db import Database, utcnow
from shared.retention_workflow import RETENTION_ACTIVITY, RetentionInput, RetentionResult, RetentionWorkflow
from shared.temporal import ensure_schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """Rows of `table` whose `age_column` is older than `keep` (and that match `where`) go, a
    batch at a time; into `archive` (a table of the same columns) first, if given."""

    name: str
    table: Table
    age_column: str
    keep: timedelta
    where: ColumnElement[bool] | None = None
    archive: Table | None = None


@dataclass(frozen=True)
class Pruned:
    rule: str
    rows: int
    batches: int
    longest_batch_seconds: float


def prune(database: Database, rule: Rule, batch_size: int = 5000, now: datetime | None = None) -> Pruned:
    """Remove (or archive) every row `rule` names, `batch_size` rows per transaction."""
    cutoff = (now or utcnow()) - rule.keep
    rows = batches = 0
    longest = 0.0
    after: tuple[Any, ...] | None = None
    while True:
        started = time.perf_counter()
        done, after = prune_batch(database, rule, cutoff, batch_size, after)
        longest = max(longest, time.perf_counter() - started)
        if not done:
            break
        rows += done
        batches += 1
        if done < batch_size:
            break
    if rows:
        log.info("retention %s: %d rows in %d batches (longest %.3fs)", rule.name, rows, batches, longest)
    return Pruned(rule.name, rows, batches, longest)


def prune_batch(
    database: Database, rule: Rule, cutoff: datetime, batch_size: int, after: tuple[Any, ...] | None = None
) -> tuple[int, tuple[Any, ...] | None]:
    """One transaction: up to `batch_size` rows past `cutoff` in key order after `after`,
    archived and deleted. Returns how many, and the last key (where the next batch starts:
    without it each batch would walk again over the index entries of the rows just deleted).

    The rows are chosen by a subquery of the statement itself (no list of keys goes back and
    forth), and on PostgreSQL rows another transaction holds are skipped, never waited for."""
    table = rule.table
    keys = list(table.primary_key.columns)
    key = tuple_(*keys) if len(keys) > 1 else keys[0]
    condition = table.c[rule.age_column] < cutoff
    if rule.where is not None:
        condition = condition & rule.where
    if after is not None:
        condition = condition & (key > (tuple_(*after) if len(keys) > 1 else after[0]))
    chosen = select(*keys).where(condition).order_by(*keys).limit(batch_size)
    if not database.is_sqlite:
        chosen = chosen.with_for_update(skip_locked=True)
    with database.transaction() as session:
        if rule.archive is None:
            found = [
                tuple(row) for row in session.execute(delete(table).where(key.in_(chosen)).returning(*keys))
            ]
        else:
            found = _archive(session, rule, chosen, condition)
    if not found:
        return 0, after
    return len(found), max(found)


def _archive(
    session: Session, rule: Rule, chosen: Select[Any], condition: ColumnElement[bool]
) -> list[tuple[Any, ...]]:
    """Copy the chosen rows to the archive, then delete them from the table (single-key tables)."""
    table, archive = rule.table, rule.archive
    assert archive is not None
    (key,) = table.primary_key.columns
    columns = [column.name for column in table.columns]
    copied = (
        session.execute(
            insert(archive)
            .from_select(columns, select(*(table.c[name] for name in columns)).where(key.in_(chosen)))
            .returning(archive.c[key.name])
        )
        .scalars()
        .all()
    )
    if copied:
        # Exactly the rows just copied: those in the archive between the first and last key
        # copied (a row skipped as locked is not there, so it stays for the next run).
        archived = archive.c[key.name]
        session.execute(
            delete(table).where(
                key.in_(select(archived).where(archived >= min(copied), archived <= max(copied))), condition
            )
        )
    return [(value,) for value in copied]


def prune_all(database: Database, rules: Sequence[Rule], batch_size: int = 5000) -> list[Pruned]:
    return [prune(database, rule, batch_size) for rule in rules]


def standard_rules(
    outbox: Table | None, idempotency_keys: Table, sent_outbox: timedelta, idempotency: timedelta
) -> list[Rule]:
    """What every service prunes: its sent outbox rows (never unsent ones) and idempotency keys."""
    rules = [Rule("idempotency_keys", idempotency_keys, "created_at", idempotency)]
    if outbox is not None:
        rules.insert(0, Rule("outbox", outbox, "sent_at", sent_outbox, where=outbox.c.sent_at.is_not(None)))
    return rules


class RetentionActivities:
    """The retention activity of one service's worker: its database and its rules."""

    def __init__(self, database: Database, rules: Sequence[Rule], batch_size: int) -> None:
        self.database = database
        self.rules = list(rules)
        self.batch_size = batch_size

    @activity.defn(name=RETENTION_ACTIVITY)
    def prune(self, given: RetentionInput) -> RetentionResult:
        done = prune_all(self.database, self.rules, given.batch_size or self.batch_size)
        return RetentionResult({result.rule: result.rows for result in done})


def retention_schedule(task_queue: str, service: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run, RetentionInput(), id=f"{service}-retention", task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A run still going when the next is due makes the next one needless.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention_schedule(client: Client, service: str, task_queue: str, every: timedelta) -> None:
    """Create `<service>-retention`, or bring it to the current queue and interval."""
    await ensure_schedule(client, f"{service}-retention", retention_schedule(task_queue, service, every))
