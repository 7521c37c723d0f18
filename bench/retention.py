"""Retention on PostgreSQL: prune 1,000,000 sent outbox rows in batches (shared.retention, as the
Schedule does) against one `DELETE` of them all, in the same run and database.

Reported: the longest single transaction and the total of each way, and, while each runs, the
worst latency of a writer adding outbox rows (what a request or a relay would feel). A batch
holds its row locks for its own short transaction only; the single DELETE holds a million of
them, and pins the vacuum horizon and the replicas' apply, for its whole length.

    .venv/bin/python -m bench.retention [--rows 1000000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import timedelta

from bench.common import emit
from bench.registration_common import fresh_postgres
from shared.db import Database

KEEP = timedelta(days=7)


def fill(database: Database, rows: int) -> None:
    """`rows` outbox rows sent 30 days ago (bodies of a typical event's size), plus 1,000 recent."""
    from sqlalchemy import text

    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (event_id, event_type, subject, body, created_at, sent_at, attempts) "
                "SELECT md5(random()::text || g::text), 'registration.member_checked_in.v1', 'm-' || g, "
                "repeat('x', 420), now() - interval '30 days', now() - interval '30 days', 1 "
                "FROM generate_series(1, :n) AS g"
            ),
            {"n": rows},
        )
        connection.execute(
            text(
                "INSERT INTO outbox (event_id, event_type, subject, body, created_at, sent_at, attempts) "
                "SELECT md5(random()::text || g::text), 'registration.member_checked_in.v1', 'r-' || g, "
                "repeat('x', 420), now(), now(), 1 FROM generate_series(1, 1000) AS g"
            )
        )
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE outbox"))


class Writer:
    """Adds one outbox row at a time in its own transaction; keeps the worst latency."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.worst = 0.0
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from services.registration.models import outbox
        from shared.db import utcnow

        while not self._stop.is_set():
            started = time.perf_counter()
            with self.database.transaction() as session:
                session.execute(
                    outbox.table.insert(),
                    {"event_id": str(uuid.uuid4()), "event_type": "x", "subject": "w", "body": "{}",
                     "created_at": utcnow(), "attempts": 0},
                )  # fmt: skip
            self.worst = max(self.worst, time.perf_counter() - started)
            self.count += 1
            time.sleep(0.01)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    from sqlalchemy import text

    from services.registration.app import MIGRATIONS
    from services.registration.models import idempotency_keys, outbox
    from shared.db import migrate, service_database, utcnow
    from shared.retention import prune, standard_rules

    with fresh_postgres("nuanliu_bench_retention") as url:
        database = service_database(url, "registration")
        migrate(database, MIGRATIONS)
        rule = standard_rules(outbox.table, idempotency_keys, KEEP, KEEP)[0]

        fill(database, args.rows)
        with Writer(database) as batched_writer:
            started = time.perf_counter()
            result = prune(database, rule, batch_size=args.batch)
            batched_total = time.perf_counter() - started
        assert result.rows == args.rows, result

        fill(database, args.rows)
        with Writer(database) as single_writer:
            started = time.perf_counter()
            with database.engine.begin() as connection:
                deleted = connection.execute(
                    text("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < :cutoff"),
                    {"cutoff": utcnow() - KEEP},
                ).rowcount
            single_total = time.perf_counter() - started
        assert deleted == args.rows, deleted
        database.dispose()

    print(f"rows: {args.rows:,} sent outbox rows past the window; batches of {args.batch:,}")
    print(
        f"batched:  {result.batches} transactions, longest {result.longest_batch_seconds * 1000:.0f} ms, "
        f"total {batched_total:.1f} s; a concurrent writer's worst insert {batched_writer.worst * 1000:.0f} ms"
    )
    print(
        f"single:   1 transaction of {single_total * 1000:.0f} ms; "
        f"a concurrent writer's worst insert {single_writer.worst * 1000:.0f} ms"
    )
    emit("retention: longest transaction, batched (ms)", result.longest_batch_seconds * 1000, "ms",
         "one DELETE of all (ms)", single_total * 1000)  # fmt: skip
    emit("retention: total, batched (s)", batched_total, "s", "one DELETE of all (s)", single_total)


if __name__ == "__main__":
    main()
