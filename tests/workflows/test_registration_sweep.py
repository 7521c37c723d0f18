"""The lost-contact sweep: the use case on the real database, and the workflow, its activity and
its daily Schedule on a real Temporal dev server."""

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.registration import commands, worker
from services.registration.models import Member, outbox
from services.registration.unit_of_work import RegistrationUnitOfWork
from services.registration.workflows import LostContactSweepWorkflow, SweepInput, SweepResult
from shared.auth import Principal
from shared.db import utcnow
from tests.support.builders import member_body, unique_code

ADMIN = Principal(sub="admin", role="admin", org="CN")


def sweep(database, days: int) -> int:
    command = commands.SweepLostContact(lost_contact_days=days)
    return commands.sweep_lost_contact(RegistrationUnitOfWork(database), commands.SWEEP_ACTOR, command)


def check_in(database, body: dict, lost_contact_days: int = 180) -> None:
    command = commands.RecordCheckin(**body, lost_contact_days=lost_contact_days)
    commands.record_checkin(RegistrationUnitOfWork(database), ADMIN, command)


def make_member(database, days_since_contact: int) -> str:
    parent = "CN"
    for level in ("province", "county", "township", "branch"):
        code = unique_code(level[:2].upper())
        commands.create_org(
            RegistrationUnitOfWork(database),
            ADMIN,
            commands.CreateOrg(code=code, name=code, level=level, parent_code=parent),
        )
        parent = code
    body = member_body(parent)
    # The use case takes what the schema loads: dates, not strings.
    body["birth_date"] = date.fromisoformat(body["birth_date"])
    body["joined_on"] = date.fromisoformat(body["joined_on"])
    member_id = commands.create_member(
        RegistrationUnitOfWork(database), ADMIN, commands.CreateMember(**body)
    ).id
    with database.transaction() as session:
        session.get(Member, member_id).last_contact_at = utcnow() - timedelta(days=days_since_contact)
    return member_id


def lost_events(database, member_id: str) -> list[dict]:
    with database.reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == member_id,
                outbox.table.c.event_type == "registration.member_lost_contact.v1",
            )
        ).all()
    return [json.loads(body)["data"] for body in bodies]


def is_lost(database, member_id: str) -> bool:
    with database.reader() as session:
        return session.get(Member, member_id).lost_contact


def test_sweep_flags_once_per_lapse(migrated):
    database = migrated("registration")
    lapsed = make_member(database, days_since_contact=200)
    recent = make_member(database, days_since_contact=10)
    assert sweep(database, 180) >= 1
    assert is_lost(database, lapsed) and not is_lost(database, recent)
    sweep(database, 180)
    events = lost_events(database, lapsed)
    assert len(events) == 1 and events[0]["lost_contact_days"] == 180
    assert lost_events(database, recent) == []
    # A check-in ends the lapse; a later lapse is a new one and gets its own event.
    with database.transaction() as session:
        branch = session.get(Member, lapsed).branch_code
    check_in(database, {"member_id": lapsed, "branch_code": branch, "kind": "grid_survey"})
    assert not is_lost(database, lapsed)
    with database.transaction() as session:
        session.get(Member, lapsed).last_contact_at = utcnow() - timedelta(days=181)
    sweep(database, 180)
    assert len(lost_events(database, lapsed)) == 2


def test_a_late_record_of_an_old_visit_does_not_end_the_lapse(migrated):
    database = migrated("registration")
    lapsed = make_member(database, days_since_contact=300)
    sweep(database, 180)
    assert is_lost(database, lapsed)
    with database.transaction() as session:
        branch = session.get(Member, lapsed).branch_code
    old_visit = {"member_id": lapsed, "branch_code": branch, "kind": "grid_survey"}
    check_in(database, {**old_visit, "occurred_at": utcnow() - timedelta(days=200)}, 180)
    assert is_lost(database, lapsed)
    sweep(database, 180)
    assert len(lost_events(database, lapsed)) == 1, "the same lapse was announced twice"
    check_in(database, {**old_visit, "occurred_at": utcnow() - timedelta(days=20)}, 180)
    assert not is_lost(database, lapsed)


@pytest.mark.asyncio(loop_scope="session")
async def test_sweep_workflow_and_schedule_on_real_temporal(temporal_env, task_queue, migrated, settings_for):
    database = migrated("registration")
    lapsed = make_member(database, days_since_contact=400)
    settings = settings_for("registration")
    schedule_id = f"sweep-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with worker.build_worker(temporal_env.client, settings, executor, task_queue):
            result = await temporal_env.client.execute_workflow(
                LostContactSweepWorkflow.run,
                SweepInput(lost_contact_days=300),
                id=f"sweep-direct-{task_queue}",
                task_queue=task_queue,
                result_type=SweepResult,
            )
            assert result.flagged >= 1
            assert is_lost(database, lapsed)

            # The schedule is created once; a second start-up finds it and carries on.
            assert await worker.ensure_schedule(temporal_env.client, task_queue, schedule_id) is True
            assert await worker.ensure_schedule(temporal_env.client, task_queue, schedule_id) is False
            second = make_member(database, days_since_contact=400)
            handle = temporal_env.client.get_schedule_handle(schedule_id)
            await handle.trigger()
            for _ in range(100):
                if is_lost(database, second):
                    break
                await asyncio.sleep(0.1)
            assert is_lost(database, second), "the scheduled sweep did not flag the member"
            description = await handle.describe()
            assert description.schedule.spec.intervals[0].every == timedelta(days=1)
            await handle.delete()
    assert len(lost_events(database, lapsed)) == 1
