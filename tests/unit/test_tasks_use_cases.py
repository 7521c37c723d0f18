"""The tasks use cases (services/tasks/commands) on a fake unit of work: in-memory repositories
with the same atomic semantics as the SQL ones, no database, no registration.

They check what a use case decides (refusals, events, audits, points); the SQL statements that
make those decisions atomic under concurrency are checked on real databases
(tests/integration/test_tasks_properties.py, tests/tasks/).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Self

import pytest
from sqlalchemy.exc import IntegrityError

from services.tasks import commands
from services.tasks.clients import MemberRef
from services.tasks.domain import CLAIMABLE, IN_PROGRESS, LIVE, OPEN
from services.tasks.models import Award, Claim, Evaluation, Progress, Task
from services.tasks.repositories import ClaimedTask, ClaimRepository
from shared.auth import Principal
from shared.clock import local_today, quarter_of
from shared.contracts import tasks as events
from shared.db import PendingInsert
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.orgs import OrgInfo
from shared.uow import UnitOfWork

# --- the fake unit of work -------------------------------------------------------------------

TASK_COLUMNS = tuple(Task.__table__.columns.keys())


class FakeTasks:
    def __init__(self) -> None:
        self.rows: dict[str, Task] = {}

    def get(self, task_id: str, lock: bool = False) -> Task | None:
        return self.rows.get(task_id)

    def add(self, task: Task) -> None:
        self.rows[task.id] = task

    def move(self, task: Task, allowed: tuple[str, ...], **values: Any) -> bool:
        if task.status not in allowed:
            return False
        for name, value in values.items():
            setattr(task, name, value)
        return True

    def add_claimant(self, task_id: str, member_id: str) -> ClaimedTask | None:
        task = self.rows.get(task_id)
        if task is None or task.claimed >= task.capacity or task.status not in CLAIMABLE:
            return None
        task.claimed += 1
        task.status = IN_PROGRESS
        task.lead_member_id = task.lead_member_id or member_id
        task.claimant_ids = [*task.claimant_ids, member_id]
        return ClaimedTask(**{name: getattr(task, name) for name in ClaimedTask.__dataclass_fields__})

    def remove_claimant(self, task: Task, claimant_ids: list[str], lead_member_id: str | None) -> bool:
        if task.status not in CLAIMABLE:
            return False
        task.claimed -= 1
        task.claimant_ids = list(claimant_ids)
        task.lead_member_id = lead_member_id
        if not claimant_ids:
            task.status = OPEN
        return True

    def raise_progress(self, task: Task, percent: int) -> bool:
        if task.status != IN_PROGRESS or task.progress > percent:
            return False
        task.progress = percent
        return True

    def due_for_overdue(self, today: date) -> list[str]:
        return sorted(
            task.id
            for task in self.rows.values()
            if task.status in LIVE and task.due_on < today and task.overdue_flagged_at is None
        )

    def flag_overdue(self, task_id: str, today: date, now: datetime) -> Task | None:
        if task_id not in self.due_for_overdue(today):
            return None
        self.rows[task_id].overdue_flagged_at = now
        return self.rows[task_id]


class FakeClaims:
    def __init__(self) -> None:
        self.rows: list[Claim] = []

    def of_task(self, task_id: str) -> list[Claim]:
        return sorted((c for c in self.rows if c.task_id == task_id), key=lambda c: (c.claimed_at, c.id))

    def get(self, task_id: str, member_id: str) -> Claim | None:
        return next((c for c in self.rows if (c.task_id, c.member_id) == (task_id, member_id)), None)

    def held(self, task_id: str, member_id: str) -> bool:
        return self.get(task_id, member_id) is not None

    def delete(self, claim: Claim) -> None:
        self.rows.remove(claim)

    pending = staticmethod(ClaimRepository.pending)


class FakeLeads:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.leading: dict[str, int] = {}

    def take(self, member_id: str) -> bool:
        if self.leading.get(member_id, 0) >= self.cap:
            return False
        self.promote(member_id)
        return True

    def promote(self, member_id: str) -> None:
        self.leading[member_id] = self.leading.get(member_id, 0) + 1

    def led_by(self, member_id: str) -> int:
        return self.leading.get(member_id, 0)

    def release(self, member_id: str | None) -> None:
        if member_id is not None and self.leading.get(member_id, 0) > 0:
            self.leading[member_id] -= 1


class FakeRows:
    """Progress reports, evaluations or awards: rows added, one per key."""

    def __init__(self, key: Any) -> None:
        self.rows: list[Any] = []
        self.key = key

    def add(self, row: Any) -> bool:
        if any(self.key(row) == self.key(other) for other in self.rows):
            return False
        self.rows.append(row)
        return True

    def add_all(self, rows: list[Any]) -> None:
        for row in rows:
            assert self.add(row), f"a second award: {row}"

    def given(self, *key: Any) -> bool:
        return any(self.key(row) == key for row in self.rows)


class Orgs:
    def __init__(self, *infos: OrgInfo) -> None:
        self.infos = {info.code: info for info in infos}

    def get(self, code: str) -> OrgInfo | None:
        return self.infos.get(code)


@dataclass
class Members:
    branches: dict[str, str] = field(default_factory=dict)

    def member_of(self, member_id: str) -> MemberRef | None:
        branch = self.branches.get(member_id)
        return MemberRef(branch, f"党员{member_id}") if branch is not None else None


class FakeTasksUnitOfWork(UnitOfWork):
    """TasksUnitOfWork in memory: what is not committed is rolled back, rows and counters alike."""

    def __init__(self, orgs: Orgs, members: Members | None = None, cap: int = 5) -> None:
        super().__init__()
        self.orgs, self.members = orgs, members or Members()
        self.single_writer = False
        self.tasks, self.claims, self.leads = FakeTasks(), FakeClaims(), FakeLeads(cap)
        self.progress = FakeRows(lambda report: report.id)
        self.evaluations = FakeRows(lambda e: (e.task_id, e.source, e.dedup_key))
        self.awards = FakeRows(lambda award: (award.task_id, award.member_id))
        self.together: list[PendingInsert] = []
        self._saved: tuple[Any, ...] = ()

    def write_with_commit(self, row: PendingInsert) -> None:
        self.together.append(row)

    @contextmanager
    def reading(self) -> Iterator[Self]:
        yield self

    def __enter__(self) -> Self:
        super().__enter__()
        self.together = []
        tasks = {i: {c: _copy(getattr(t, c)) for c in TASK_COLUMNS} for i, t in self.tasks.rows.items()}
        lists = (self.claims.rows, self.progress.rows, self.evaluations.rows, self.awards.rows)
        self._saved = (dict(self.tasks.rows), tasks, [list(rows) for rows in lists], dict(self.leads.leading))
        return self

    def commit(self) -> None:
        for row in self.together:
            assert row.table is Claim.__table__, row.table
            if self.claims.held(row.values["task_id"], row.values["member_id"]):
                raise IntegrityError("INSERT INTO claims", row.values, Exception("uq_claims_task_member"))
            self.claims.rows.append(Claim(**row.values))
        self.together = []
        super().commit()

    def rollback(self) -> None:
        if self._saved:
            rows, tasks, lists, leading = self._saved
            self.tasks.rows = rows
            for task_id, values in tasks.items():
                for column, value in values.items():
                    setattr(rows[task_id], column, value)
            for store, saved in zip(
                (self.claims, self.progress, self.evaluations, self.awards), lists, strict=True
            ):
                store.rows = saved
            self.leads.leading = leading
        self.together = []
        super().rollback()


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


# --- the world: a county with two townships ------------------------------------------------------

CN = ("CN", "P")
COUNTY = OrgInfo("C", "county", "county", "P", (*CN, "C"))
TOWNSHIP = OrgInfo("T", "township", "township", "C", (*CN, "C", "T"))
BRANCH = OrgInfo("B", "branch", "branch", "T", (*CN, "C", "T", "B"))
OTHER_TOWNSHIP = OrgInfo("T2", "township 2", "township", "C", (*CN, "C", "T2"))
OUTSIDE_BRANCH = OrgInfo("B2", "branch 2", "branch", "T2", (*CN, "C", "T2", "B2"))
ORGS = Orgs(
    OrgInfo("P", "province", "province", "CN", CN), COUNTY, TOWNSHIP, BRANCH, OTHER_TOWNSHIP, OUTSIDE_BRANCH
)

OFFICER = Principal("officer-T", "township_officer", "T")


def member(member_id: str, branch: OrgInfo = BRANCH) -> Principal:
    return Principal(member_id, "member", branch.code)


@pytest.fixture
def uow() -> FakeTasksUnitOfWork:
    return FakeTasksUnitOfWork(ORGS, Members({"m-out": "B2", "m-in": "B"}), cap=1)


def open_task(uow: FakeTasksUnitOfWork, capacity: int = 3, points: int = 15) -> str:
    create = commands.CreateTask(
        title="为独居老人送餐",
        description="每周两次",
        org_code="T",
        category="elderly_care",
        due_on=local_today() + timedelta(days=30),
        capacity=capacity,
        points=points,
    )
    task = commands.create_task(uow, OFFICER, create)
    commands.publish_task(uow, OFFICER, commands.PublishTask(task.id))
    return task.id


def claim(uow: FakeTasksUnitOfWork, task_id: str, member_id: str) -> commands.ClaimPlaced:
    return commands.claim_task(uow, member(member_id), commands.ClaimTask(task_id, "我来"))


# --- the tests ------------------------------------------------------------------------------


def test_publishing_a_draft_emits_task_published_and_audits(uow):
    create = commands.CreateTask("t", "d", "T", "c", due_on=local_today(), capacity=2, points=7)
    task = commands.create_task(uow, OFFICER, create)
    assert task.status == "draft" and task.county_code == "C" and task.org_path == "/CN/P/C/T/"
    assert uow.events == [] and [a.action for a in uow.audits] == ["create"]

    commands.publish_task(uow, OFFICER, commands.PublishTask(task.id))
    assert uow.committed and task.status == OPEN
    [event] = uow.events
    assert (event.event_type, event.subject) == (events.TASK_PUBLISHED, task.id)
    assert event.data["capacity"] == 2 and event.data["points"] == 7 and event.data["status"] == OPEN
    assert [(a.actor, a.action, a.object_id) for a in uow.audits] == [("officer-T", "publish", task.id)]
    with pytest.raises(Conflict, match="publish"):
        commands.publish_task(uow, OFFICER, commands.PublishTask(task.id))
    assert uow.events == [] and uow.audits == []


def test_only_an_officer_of_the_township_creates_and_never_in_the_past(uow):
    create = commands.CreateTask("t", "d", "T", "c", due_on=local_today())
    with pytest.raises(Forbidden):
        commands.create_task(uow, Principal("officer-T2", "township_officer", "T2"), create)
    with pytest.raises(InvalidInput) as error:
        commands.create_task(uow, OFFICER, commands.CreateTask("t", "d", "C", "c", due_on=local_today()))
    assert error.value.field == "org_code"
    with pytest.raises(InvalidInput) as error:
        past = commands.CreateTask("t", "d", "T", "c", due_on=local_today() - timedelta(days=1))
        commands.create_task(uow, OFFICER, past)
    assert error.value.field == "due_on"
    assert uow.tasks.rows == {}


def test_a_member_outside_the_township_cannot_claim_and_nothing_changes(uow):
    task_id = open_task(uow)
    with pytest.raises(Forbidden, match="not open to your branch"):
        commands.claim_task(uow, member("m-out-1", OUTSIDE_BRANCH), commands.ClaimTask(task_id, "我来"))
    task = uow.tasks.rows[task_id]
    assert (task.claimed, task.status, task.lead_member_id, task.claimant_ids) == (0, OPEN, None, [])
    assert uow.claims.rows == [] and uow.leads.leading == {}
    assert uow.events == [] and uow.audits == []
    # Assigned by an officer, they are refused alike, naming their branch.
    with pytest.raises(Forbidden, match="member m-out's branch"):
        commands.assign_member(uow, OFFICER, commands.AssignMember(task_id, "m-out"))
    assert uow.claims.rows == [] and task.claimed == 0


def test_the_first_claimant_leads_and_the_claim_row_is_written_at_commit(uow):
    task_id = open_task(uow)
    placed = claim(uow, task_id, "m-1")
    assert placed.lead and placed.task_status == IN_PROGRESS and placed.branch_code == "B"
    [row] = uow.claims.rows
    assert (row.task_id, row.member_id, row.branch_path, row.assigned_by) == (
        task_id,
        "m-1",
        "/CN/P/C/T/B/",
        None,
    )
    [event] = uow.events
    assert event.event_type == events.TASK_CLAIMED
    assert event.data["lead"] is True and event.data["claimant_ids"] == ["m-1"]
    assert [a.action for a in uow.audits] == ["claim"]
    helper = commands.assign_member(uow, OFFICER, commands.AssignMember(task_id, "m-in", "帮忙"))
    assert not helper.lead and helper.assigned_by == "officer-T"
    assert uow.events[0].data["claimant_ids"] == ["m-1", "m-in"] and uow.audits[0].action == "assign"


def test_a_repeat_claim_is_refused_as_a_repeat_even_by_a_lead_at_the_cap(uow):
    task_id = open_task(uow)
    claim(uow, task_id, "m-1")  # leads one task: the cap of this unit (1)
    with pytest.raises(Conflict, match="already claimed"):
        claim(uow, task_id, "m-1")
    task = uow.tasks.rows[task_id]
    assert (task.claimed, task.claimant_ids) == (1, ["m-1"]) and uow.leads.leading == {"m-1": 1}


def test_the_lead_cap_refuses_a_second_lead_but_not_a_helper(uow):
    first, second = open_task(uow), open_task(uow)
    claim(uow, first, "m-1")
    with pytest.raises(Conflict, match="lead at most 1"):
        claim(uow, second, "m-1")
    assert uow.tasks.rows[second].claimed == 0 and uow.claims.of_task(second) == []
    claim(uow, second, "m-2")
    assert not claim(uow, second, "m-1").lead


def test_a_full_task_refuses_with_the_reason(uow):
    task_id = open_task(uow, capacity=1)
    claim(uow, task_id, "m-1")
    with pytest.raises(Conflict, match="is full"):
        claim(uow, task_id, "m-2")
    with pytest.raises(NotFound):
        claim(uow, "no-such-task", "m-2")


def test_the_lead_withdraws_and_the_earliest_remaining_takes_over_past_the_cap(uow):
    led, shared = open_task(uow), open_task(uow)
    claim(uow, led, "m-1")
    claim(uow, shared, "m-2")
    claim(uow, shared, "m-1")
    task = commands.withdraw_claim(uow, member("m-2"), commands.WithdrawClaim(shared, "m-2"))
    assert task.lead_member_id == "m-1" and task.claimant_ids == ["m-1"] and task.claimed == 1
    assert uow.leads.leading == {"m-1": 2, "m-2": 0}  # a promotion is never refused
    [event] = uow.events
    assert event.event_type == events.CLAIM_WITHDRAWN and event.data["removed_by"] is None
    with pytest.raises(Forbidden):
        commands.withdraw_claim(uow, member("m-3"), commands.WithdrawClaim(shared, "m-1"))


def test_an_org_evaluation_awards_the_lead_the_points_and_others_half_rounded_up(uow):
    task_id = open_task(uow, points=15)
    for member_id in ("m-lead", "m-2", "m-3"):
        claim(uow, task_id, member_id)
    with pytest.raises(Forbidden, match="lead claimant"):
        commands.complete_task(uow, member("m-2"), commands.CompleteTask(task_id, "done"))
    commands.complete_task(uow, member("m-lead"), commands.CompleteTask(task_id, "送餐八次"))
    assert uow.leads.leading["m-lead"] == 0

    evaluation = commands.evaluate_task(uow, OFFICER, commands.EvaluateTask(task_id, "org", 5, "好"))
    assert isinstance(evaluation, Evaluation) and evaluation.dedup_key == "org"
    awarded = {award.member_id: award.points for award in uow.awards.rows}
    assert awarded == {"m-lead": 15, "m-2": 8, "m-3": 8}
    assert {award.quarter for award in uow.awards.rows} == {quarter_of(local_today())}
    assert all(isinstance(award, Award) for award in uow.awards.rows)
    [event] = uow.events
    assert event.event_type == events.TASK_EVALUATED and event.data["status"] == "evaluated"
    assert sorted((a["member_id"], a["points"]) for a in event.data["awards"]) == [
        ("m-2", 8),
        ("m-3", 8),
        ("m-lead", 15),
    ]
    assert [a.action for a in uow.audits] == ["evaluate_org"]
    with pytest.raises(Conflict):
        commands.evaluate_task(uow, OFFICER, commands.EvaluateTask(task_id, "org", 4))
    assert len(uow.awards.rows) == 3


def test_claimants_do_not_evaluate_their_own_task_and_a_member_rates_once(uow):
    task_id = open_task(uow)
    claim(uow, task_id, "m-lead")
    commands.complete_task(uow, member("m-lead"), commands.CompleteTask(task_id, "done"))
    with pytest.raises(Forbidden, match="claimants"):
        commands.evaluate_task(uow, member("m-lead"), commands.EvaluateTask(task_id, "member", 5))
    commands.evaluate_task(uow, member("m-9"), commands.EvaluateTask(task_id, "member", 4))
    with pytest.raises(Conflict, match="already has your member evaluation"):
        commands.evaluate_task(uow, member("m-9"), commands.EvaluateTask(task_id, "member", 5))
    assert len(uow.evaluations.rows) == 1 and uow.awards.rows == []


def test_progress_only_goes_up_and_only_from_claimants(uow):
    task_id = open_task(uow)
    claim(uow, task_id, "m-1")
    report = commands.report_progress(uow, member("m-1"), commands.ReportProgress(task_id, 40, "走访三户"))
    assert isinstance(report, Progress) and uow.tasks.rows[task_id].progress == 40
    assert uow.events[0].event_type == events.PROGRESS_REPORTED
    with pytest.raises(Conflict, match="only goes up"):
        commands.report_progress(uow, member("m-1"), commands.ReportProgress(task_id, 30, "x"))
    with pytest.raises(Forbidden):
        commands.report_progress(uow, member("m-2"), commands.ReportProgress(task_id, 50, "x"))
    assert uow.progress.rows == [report]


def test_the_overdue_sweep_flags_a_live_task_once_by_the_day_in_china(uow):
    task_id = open_task(uow)
    uow.tasks.rows[task_id].due_on = local_today()
    assert commands.overdue_sweep(uow, commands.FlagOverdue()) == []
    later = datetime.now().astimezone() + timedelta(days=2)
    assert commands.overdue_sweep(uow, commands.FlagOverdue(later)) == [task_id]
    assert uow.events[0].event_type == events.TASK_OVERDUE
    assert commands.overdue_sweep(uow, commands.FlagOverdue(later)) == []
