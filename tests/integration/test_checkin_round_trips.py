"""A check-in's round trips (issue 25): its row written in the statement of its event and audit
entry, orgs read once per process, and pooled connections pinged only after sitting idle — with
every row still there, the audit entry still scoped to the branch, and a dead idle connection
still replaced without an error."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import event, select, text

from services.registration import commands
from services.registration.models import Checkin, Member, audit_log, outbox
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared.auth import Principal
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.db import Database, PoolOptions
from shared.errors import InvalidInput
from tests.support.builders import member_body, unique_code

ADMIN = Principal(sub="tester", role="admin", org="CN")


def make_branch(database: Database) -> str:
    parent = "CN"
    for level in ("province", "county", "township", "branch"):
        code = unique_code(level[:2].upper())
        create = commands.CreateOrg(code=code, name=f"测试{level}", level=level, parent_code=parent)
        commands.create_org(RegistrationUnitOfWork(database), ADMIN, create)
        parent = code
    return parent


def make_member(database: Database, branch: str) -> str:
    body = member_body(branch)
    body["birth_date"] = date.fromisoformat(str(body["birth_date"]))
    body["joined_on"] = date.fromisoformat(str(body["joined_on"]))
    return commands.create_member(
        RegistrationUnitOfWork(database),
        ADMIN,
        commands.CreateMember(**body),  # type: ignore[arg-type]
    ).id


def check_in(database: Database, member_id: str, branch: str) -> Checkin:
    me = Principal(sub=member_id, role="member", org=branch)
    return commands.record_checkin(
        RegistrationUnitOfWork(database), me, commands.RecordCheckin(member_id, branch, "self")
    )


def test_a_checkin_is_two_statements_and_all_its_rows(migrated):
    database = migrated("registration")
    branch = make_branch(database)
    member_id = make_member(database, branch)
    check_in(database, member_id, branch)  # the branch is now known to this process
    with database.reader() as session:
        version_before = session.scalar(select(Member.version).where(Member.id == member_id))

    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute)
    event.listen(database.engine, "before_cursor_execute", listener)
    try:
        checkin = check_in(database, member_id, branch)
    finally:
        event.remove(database.engine, "before_cursor_execute", listener)

    with database.reader() as session:
        stored = session.get(Checkin, checkin.id)
        assert stored is not None and stored.branch_code == branch and stored.kind == "self"
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.event_type == MEMBER_CHECKED_IN, outbox.table.c.subject == member_id
            )
        ).all()
        audit_org = session.scalars(
            select(audit_log.c.org_code).where(
                audit_log.c.object_type == "checkin", audit_log.c.object_id == checkin.id
            )
        ).all()
        contact, version = session.execute(
            select(Member.last_contact_at, Member.version).where(Member.id == member_id)
        ).one()
    assert sum(checkin.id in body for body in bodies) == 1
    # The audit entry is scoped to the branch, though the check-in was not in the session.
    assert audit_org == [branch]
    # The member's contact moved to the check-in, and its version counted the change.
    assert contact == checkin.occurred_at and version == version_before + 1
    if database.engine.dialect.name == "postgresql":
        # Read the member; one statement writes the check-in, the member's contact, the event
        # and the audit entry.
        assert len(statements) == 2, statements
        assert not any("FROM orgs" in sql for sql in statements), statements
        assert sum("INSERT" in sql for sql in statements) == 1, statements
        assert "UPDATE members" in statements[1], statements


def test_an_org_made_after_a_miss_is_found(migrated):
    database = migrated("registration")
    branch = make_branch(database)
    member_id = make_member(database, branch)
    later = unique_code("BR")
    with pytest.raises(InvalidInput):
        check_in(database, member_id, later)
    # A branch under the same township, created after the miss: the miss was not remembered.
    with database.reader() as session:
        parent = session.scalar(text("SELECT parent_code FROM orgs WHERE code = :code"), {"code": branch})
    create = commands.CreateOrg(code=later, name="后建支部", level="branch", parent_code=parent)
    commands.create_org(RegistrationUnitOfWork(database), ADMIN, create)
    member_there = make_member(database, later)
    assert check_in(database, member_there, later).branch_code == later


def test_a_connection_that_died_while_idle_is_replaced(migrated):
    registration = migrated("registration")
    if registration.engine.dialect.name != "postgresql":
        pytest.skip("pooled server connections are PostgreSQL's")
    # Ping after any idleness, so that the test need not wait for the default threshold.
    database = Database(registration.url, "registration", pool=PoolOptions(size=1, ping_idle_seconds=0.0))
    try:
        with database.engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with registration.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            other.commit()
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            while other.execute(text(gone), {"pid": first}).scalar_one():
                other.commit()  # a fresh snapshot of the activity view each turn
                time.sleep(0.05)
        with database.engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        database.dispose()


def test_a_known_org_held_by_the_session_but_not_yet_cached_is_answered(migrated):
    """`OrgRepository.known` answers an org the session already holds (loaded by a query of its
    own, not through the cache) rather than failing on the cache it did not fill."""
    from services.registration.models import Org
    from services.registration.repositories import _SETTLED_ORGS

    database = migrated("registration")
    branch = make_branch(database)
    _SETTLED_ORGS._by_engine.pop(database.engine, None)  # as in a fresh process
    uow = RegistrationUnitOfWork(database)
    with uow:
        held = uow.session.scalars(select(Org).where(Org.code == branch)).one()
        known = uow.orgs.known(branch)
        assert known is held and known.path.endswith(f"/{branch}/")
    with RegistrationUnitOfWork(database) as later:
        again = later.orgs.known(branch)
        assert again is not None and again.code == branch and again not in later.session
