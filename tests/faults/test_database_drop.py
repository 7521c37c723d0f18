"""The database goes away during requests: clean 503s (never 500), recovery when it returns, and
no half-written rows: every check-in has its outbox event and every event its check-in."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, select, text

from services.registration.models import Checkin, outbox
from shared.contracts.registration import MEMBER_CHECKED_IN
from tests.faults.harness import check_in, create_branch, create_members, wait_until

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 4.0


class DatabaseOutage:
    """PostgreSQL: refuse new connections to the test database and terminate the live ones.
    SQLite: hold the write lock, so that writers time out (the busy timeout is shortened)."""

    def __init__(self, test_databases, sqlite_path: str | None) -> None:
        self.test_databases = test_databases
        self.sqlite_path = sqlite_path
        self._held = None

    def start(self) -> None:
        if self.test_databases.is_postgres:
            name = self.test_databases.pg_database
            engine = create_engine(self.test_databases.pg_admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            engine.dispose()
        else:
            import sqlite3

            self._held = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
            self._held.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.test_databases.is_postgres:
            engine = create_engine(self.test_databases.pg_admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(
                    text(f'ALTER DATABASE "{self.test_databases.pg_database}" ALLOW_CONNECTIONS true')
                )
            engine.dispose()
        elif self._held is not None:
            self._held.execute("ROLLBACK")
            self._held.close()
            self._held = None


def test_database_drop_gives_503_then_recovers_without_half_written_rows(
    fault_stack, migrated, test_databases
):
    registration_db = migrated("registration")
    stack = fault_stack(NUANLIU_SQLITE_BUSY_TIMEOUT_MS="1000")
    stack.start("registration-api")
    stack.wait_ready("registration")
    base = stack.url("registration")
    branch = create_branch(base)["branch"]
    members = create_members(base, branch, 8)

    statuses: Counter[int] = Counter()
    during: Counter[int] = Counter()
    phase = {"outage": False}
    stop = threading.Event()

    def load(member: str) -> None:
        while not stop.is_set():
            try:
                status = check_in(base, member, branch, timeout=15).status_code
            except Exception as error:  # a dropped HTTP connection would be a failure too
                status = type(error).__name__  # type: ignore[assignment]
            statuses[status] += 1
            if phase["outage"]:
                during[status] += 1
            time.sleep(0.02)

    outage = DatabaseOutage(
        test_databases, registration_db.engine.url.database if registration_db.is_sqlite else None
    )
    threads = [threading.Thread(target=load, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        outage.start()
        phase["outage"] = True
        time.sleep(OUTAGE_SECONDS)
    finally:
        phase["outage"] = False
        outage.end()
    recovered_from = sum(statuses.values())
    wait_until(lambda: statuses[201] > 0 and sum(statuses.values()) > recovered_from + 20, 30, "recovery")
    stop.set()
    for thread in threads:
        thread.join(30)

    print(f"database outage: all={dict(statuses)} during={dict(during)}")
    assert set(statuses) <= {201, 503}, dict(statuses)
    assert during[503] > 0, f"the outage produced no 503: {dict(during)}"
    after = time.monotonic()
    wait_until(lambda: check_in(base, members[0], branch).status_code == 201, 30, "a check-in after")
    assert time.monotonic() - after < 30

    # No half-written rows: check-ins and their events exist together or not at all.
    with registration_db.reader() as session:
        checkin_ids = set(session.scalars(select(Checkin.id).where(Checkin.member_id.in_(members))).all())
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.event_type == MEMBER_CHECKED_IN, outbox.table.c.subject.in_(members)
            )
        ).all()
    event_checkins = [json.loads(body)["data"]["checkin_id"] for body in bodies]
    assert len(event_checkins) == len(set(event_checkins)), "a check-in has two events"
    assert set(event_checkins) == checkin_ids
    assert len(checkin_ids) >= statuses[201]
