"""每月一摸排 on a real Temporal dev server: the coverage reminder workflow and its monthly
Schedule (the 25th, China time), and the daily sweep's suspension-due count."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from services.registration import commands, worker
from services.registration.models import ContactAttempt, Member, outbox
from services.registration.unit_of_work import RegistrationUnitOfWork
from services.registration.workflows import (
    CoverageInput,
    CoverageReminderWorkflow,
    CoverageResult,
    LostContactSweepWorkflow,
    SweepInput,
    SweepResult,
)
from shared import clock
from shared.auth import Principal
from tests.support.builders import member_body, unique_code

ADMIN = Principal(sub="admin", role="admin", org="CN")


def mobile_member(database) -> tuple[str, str]:
    parent = "CN"
    for level in ("province", "county", "township", "branch"):
        code = unique_code(level[:2].upper())
        commands.create_org(
            RegistrationUnitOfWork(database), ADMIN, commands.CreateOrg(code=code, name=code, level=level, parent_code=parent)
        )
        parent = code
    body = member_body(parent)
    body["birth_date"] = date.fromisoformat(body["birth_date"])
    body["joined_on"] = date.fromisoformat(body["joined_on"])
    member_id = commands.create_member(RegistrationUnitOfWork(database), ADMIN, commands.CreateMember(**body)).id
    outflow = commands.RegisterOutflow(
        member_id=member_id,
        destination_region="330602",
        destination_address="浙江省绍兴市",
        occupation="工人",
        departed_on=clock.local_today(),
        reason="务工",
        contact_phone="13912345678",
    )
    commands.register_outflow(RegistrationUnitOfWork(database), ADMIN, outflow)
    return member_id, parent


def reminders(database, branch: str) -> list[dict]:
    with database.reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == branch,
                outbox.table.c.event_type == "registration.coverage_reminder_due.v1",
            )
        ).all()
    return [json.loads(body)["data"] for body in bodies]


def lost_and_searched_for(database) -> str:
    """A member lost 181 days ago (China dates) with three failed attempts since."""
    member_id, _ = mobile_member(database)
    since = clock.local_today() - timedelta(days=181)
    with database.transaction() as session:
        member = session.get(Member, member_id)
        member.lost_contact, member.lost_contact_since = True, since
        for day in (1, 2, 3):
            at = datetime(since.year, since.month, since.day, 12, tzinfo=clock.CHINA_TIME) + timedelta(days=day)
            session.add(
                ContactAttempt(
                    id=f"{member_id[:20]}-{day}", member_id=member_id, method="visit", result="not_reached",
                    attempted_at=at, recorder_org_code="CN", recorded_by="t", created_at=at,
                )
            )  # fmt: skip
    return member_id


def due_events(database, member_id: str) -> list[dict]:
    with database.reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == member_id,
                outbox.table.c.event_type == "registration.member_suspension_due.v1",
            )
        ).all()
    return [json.loads(body)["data"] for body in bodies]


@pytest.mark.asyncio(loop_scope="session")
async def test_coverage_reminder_workflow_and_monthly_schedule(temporal_env, task_queue, migrated, settings_for):
    database = migrated("registration")
    _, branch = mobile_member(database)
    settings = settings_for("registration")
    schedule_id = f"coverage-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with worker.build_worker(temporal_env.client, settings, executor, task_queue):
            for run in range(2):  # a rerun reminds nobody twice
                result = await temporal_env.client.execute_workflow(
                    CoverageReminderWorkflow.run,
                    CoverageInput(),
                    id=f"coverage-direct-{run}-{task_queue}",
                    task_queue=task_queue,
                    result_type=CoverageResult,
                )
                assert (result.reminded >= 1) == (run == 0)
            (reminder,) = reminders(database, branch)
            assert reminder["month"] == clock.current_month() and reminder["not_reached"] == 1

            lost = lost_and_searched_for(database)
            swept = await temporal_env.client.execute_workflow(
                LostContactSweepWorkflow.run,
                SweepInput(),
                id=f"sweep-direct-{task_queue}",
                task_queue=task_queue,
                result_type=SweepResult,
            )
            assert swept.suspension_due >= 1
            assert len(due_events(database, lost)) == 1

            assert await worker.ensure_coverage_schedule(temporal_env.client, task_queue, schedule_id) is True
            assert await worker.ensure_coverage_schedule(temporal_env.client, task_queue, schedule_id) is False
            handle = temporal_env.client.get_schedule_handle(schedule_id)
            description = await handle.describe()
            spec = description.schedule.spec
            assert spec.time_zone_name == "Asia/Shanghai"
            (calendar,) = spec.calendars
            assert [r.start for r in calendar.day_of_month] == [25] and [r.start for r in calendar.hour] == [9]
            upcoming = description.info.next_action_times[0].astimezone(clock.CHINA_TIME)
            assert (upcoming.day, upcoming.hour) == (25, 9)
            await handle.delete()
