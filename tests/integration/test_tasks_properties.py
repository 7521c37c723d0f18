"""Property test of the REAL tasks service: a hypothesis state machine whose every rule calls
the tasks use cases (services/tasks/commands) on the session's migrated database (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), and whose invariants read that database after every step.

Invariants, per task and per member of the example:
- never overbooked: claim rows == `claimed` <= capacity, one claim per (task, member);
- one lead while anyone has claimed, and it is the earliest remaining claimant;
- points: awards exist only once the org evaluation does, once per (task, member), lead gets
  the task's points and every other claimant half rounded up, and they never change after;
- the lead cap: `member_leads` counts exactly the live tasks a member leads, and no claim or
  assignment makes a member lead more than the cap. A promotion (the lead withdrew and the
  earliest remaining claimant takes over) deliberately ignores the cap, so the cap binds the
  leads a member *took*, not the ones handed to them;
- a refused operation (409, 403, 404) changes nothing: no row, no counter, no event.

The in-memory domain.TaskState rides along as the oracle: each operation must succeed on the
database exactly when it succeeds on the model, and leave the same claims, lead, status,
progress and awards behind. Each example uses fresh task and member ids, so examples share
the session database without seeing each other. Only what tasks would ask registration over
HTTP (the org tree, a member's branch) is answered in process.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from services.tasks import commands, domain
from services.tasks.domain import LIVE, TaskState
from services.tasks.models import Award, Claim, Evaluation, MemberLeads, Progress, Task, outbox
from services.tasks.unit_of_work import TasksDeps, TasksUnitOfWork
from shared.auth import Principal
from shared.clock import local_today
from shared.db import Database, utcnow
from shared.errors import Conflict, Forbidden, NotFound, NuanliuError
from shared.orgs import OrgInfo

CAP = 1  # max_led_open_tasks: the smallest, so that examples reach it and promotions pass it
MAX_TASKS = 3
INSIDERS = 3  # members of branches under the task's township (one outsider besides): few, so they meet
MEMBER = st.integers(0, INSIDERS - 1)
REFUSALS = (Conflict, Forbidden, NotFound)

SETTINGS = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the world outside the tasks database: the org tree and registration's member lookup ---


class Orgs:
    """The org tree registration would answer (tasks only reads it)."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3).upper()
        self.province, self.county = f"PP-{tag}", f"PC-{tag}"
        self.township, self.township2 = f"PT-{tag}", f"PT2-{tag}"
        self.branch, self.branch2, self.outside_branch = f"PB-{tag}", f"PB2-{tag}", f"PB3-{tag}"
        paths = {
            self.province: ("province", ("CN", self.province)),
            self.county: ("county", ("CN", self.province, self.county)),
            self.township: ("township", ("CN", self.province, self.county, self.township)),
            self.township2: ("township", ("CN", self.province, self.county, self.township2)),
            self.branch: ("branch", ("CN", self.province, self.county, self.township, self.branch)),
            self.branch2: ("branch", ("CN", self.province, self.county, self.township, self.branch2)),
            self.outside_branch: (
                "branch",
                ("CN", self.province, self.county, self.township2, self.outside_branch),
            ),
        }
        self.infos = {
            code: OrgInfo(code=code, name=code, level=level, parent_code=path[-2], path=path)
            for code, (level, path) in paths.items()
        }

    def get(self, code: str) -> OrgInfo | None:
        return self.infos.get(code)


@dataclass
class _Response:
    status_code: int
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return self.body


class Registration:
    """Answers GET /api/v1/members/{id} for the members the machine made."""

    def __init__(self) -> None:
        self.branches: dict[str, str] = {}

    def request(self, method: str, path: str, **_: Any) -> _Response:
        member_id = path.rsplit("/", 1)[-1]
        branch = self.branches.get(member_id)
        if method != "GET" or branch is None:
            return _Response(404, {})
        return _Response(200, {"id": member_id, "branch_code": branch})


# --- what the database holds for one example ------------------------------------------------


@dataclass
class Snapshot:
    tasks: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # status, capacity, claimed, ...
    claims: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # by claimed_at, id
    awards: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    evaluations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    progress_reports: dict[str, int] = field(default_factory=dict)
    last_event: int | None = None  # the outbox's last seq: only this machine writes it meanwhile
    leading: dict[str, int] = field(default_factory=dict)


def read_snapshot(database: Database, task_ids: list[str], member_ids: list[str]) -> Snapshot:
    snap = Snapshot(
        claims={task_id: [] for task_id in task_ids},
        awards={task_id: [] for task_id in task_ids},
        evaluations={task_id: [] for task_id in task_ids},
    )
    tasks, claims, awards, evaluations = (
        Task.__table__.c,
        Claim.__table__.c,
        Award.__table__.c,
        Evaluation.__table__.c,
    )
    progress = Progress.__table__.c
    with database.reader() as session:
        for task_id, *row in session.execute(
            select(tasks.id, tasks.status, tasks.capacity, tasks.claimed, tasks.lead_member_id)
            .add_columns(tasks.progress, tasks.points, tasks.claimant_ids)
            .where(tasks.id.in_(task_ids))
        ):
            snap.tasks[task_id] = tuple(row)
        for task_id, *row in session.execute(
            select(claims.task_id, claims.member_id, claims.claimed_at, claims.id, claims.assigned_by)
            .where(claims.task_id.in_(task_ids))
            .order_by(claims.claimed_at, claims.id)
        ):
            snap.claims[task_id].append(tuple(row))
        for task_id, member_id, points in session.execute(
            select(awards.task_id, awards.member_id, awards.points)
            .where(awards.task_id.in_(task_ids))
            .order_by(awards.member_id, awards.id)
        ):
            snap.awards[task_id].append((member_id, points))
        for task_id, source, evaluator in session.execute(
            select(evaluations.task_id, evaluations.source, evaluations.evaluator_id)
            .where(evaluations.task_id.in_(task_ids))
            .order_by(evaluations.id)
        ):
            snap.evaluations[task_id].append((source, evaluator))
        counts = select(progress.task_id, func.count()).where(progress.task_id.in_(task_ids))
        snap.progress_reports = {t: n for t, n in session.execute(counts.group_by(progress.task_id))}
        # The outbox has no index on subject: its last seq shows a new event as surely.
        snap.last_event = session.scalar(select(func.max(outbox.table.c.seq)))
        leads = select(MemberLeads.member_id, MemberLeads.leading).where(
            MemberLeads.member_id.in_(member_ids)
        )
        snap.leading = {m: n for m, n in session.execute(leads)}
    return snap


def reason(message: str) -> str:
    """The kind of a claim refusal, as both the domain and the service word it."""
    for kind in ("already claimed", "is full", "lead at most", "cannot claim"):
        if kind in message:
            return kind
    return message


# --- the machine ------------------------------------------------------------------------------


class TasksOnTheDatabase(RuleBasedStateMachine):
    tasks = Bundle("tasks")

    def __init__(self, deps: TasksDeps, orgs: Orgs, registration: Registration) -> None:
        super().__init__()
        self.deps, self.orgs = deps, orgs
        tag = secrets.token_hex(4)  # fresh members per example: member_leads is global
        branches = [orgs.branch, orgs.branch2, orgs.branch, orgs.outside_branch]
        self.members = [f"pm-{tag}-{index}" for index in range(INSIDERS + 1)]
        self.branch_of = dict(zip(self.members, branches, strict=True))
        registration.branches.update(self.branch_of)
        self.outsider = self.members[INSIDERS]
        self.officer = Principal(sub=f"officer-{orgs.township}", role="township_officer", org=orgs.township)
        self.models: dict[str, TaskState] = {}
        # How each live lead was obtained: by claiming (bound by the cap) or by promotion.
        self.claimed_leads: set[tuple[str, str]] = set()
        self.promoted_leads: set[tuple[str, str]] = set()
        self.first_awards: dict[str, list[tuple[str, int]]] = {}
        self.last = Snapshot()
        self.refused: str | None = None  # the step's refusal, checked against the database

    # helpers

    def uow(self) -> TasksUnitOfWork:
        return self.deps.unit_of_work()

    def member(self, member_id: str) -> Principal:
        return Principal(sub=member_id, role="member", org=self.branch_of[member_id])

    def snapshot(self) -> Snapshot:
        return read_snapshot(self.deps.database, list(self.models), self.members)

    def live_leads(self, member_id: str) -> int:
        return sum(
            1 for status, _, _, lead, *_ in self.last.tasks.values() if status in LIVE and lead == member_id
        )

    def model_leads(self, member_id: str) -> int:
        return sum(1 for m in self.models.values() if m.status in LIVE and m.lead_member_id == member_id)

    def run(self, what: str, on_model: Callable[[], Any] | None, on_service: Callable[[], Any]) -> Any:
        """Apply `what` to the model and to the service: both accept it, or both refuse it,
        and a refusal leaves the database exactly as it was."""
        model_error: NuanliuError | None = None
        if on_model is not None:
            try:
                on_model()
            except Conflict as error:  # the model raises only Conflict, before changing anything
                model_error = error
        try:
            result = on_service()
        except REFUSALS as error:
            self.refused = f"{what}: refused ({error.message})"
            if on_model is not None:
                assert model_error is not None, (
                    f"{what}: the service refused ({error.message}); the model accepts"
                )
            return error
        if on_model is not None:
            assert model_error is None, (
                f"{what}: the service accepted; the model refuses ({model_error.message})"
            )
        return result

    def tasks_in(self, *statuses: str) -> list[str]:
        return [task_id for task_id, model in self.models.items() if model.status in statuses]

    def shared_tasks(self) -> list[str]:
        return [t for t in self.tasks_in(domain.IN_PROGRESS) if len(self.models[t].claimants) > 1]

    def joinable(self) -> list[tuple[str, str]]:
        return [
            (task_id, member_id)
            for task_id in self.tasks_in(domain.IN_PROGRESS)
            for member_id in self.members[:INSIDERS]
            if member_id not in self.models[task_id].claimant_ids
        ]

    def leaders(self) -> list[str]:
        return [m for m in self.members[:INSIDERS] if self.model_leads(m)]

    def claimants_of_live_tasks(self) -> list[tuple[str, str]]:
        return [(t, m) for t in self.tasks_in(domain.IN_PROGRESS) for m in self.models[t].claimant_ids]

    # Rules. Most operations on a random task by a random member are refused, so those share
    # one rule (`stray`), and the others draw the tasks and members where they may succeed:
    # examples then reach helpers, promotions, the cap, completion and points within 25 steps.

    @precondition(lambda self: len(self.models) < MAX_TASKS)
    @rule(
        target=tasks,
        capacity=st.sampled_from([2, 3, 1]),
        points=st.integers(0, 21),
        published=st.sampled_from([True, True, True, False]),  # a draft only refuses
    )
    def create(self, capacity: int, points: int, published: bool) -> str:
        data = {
            "title": "帮独居老人买菜",
            "description": "每周两次",
            "org_code": self.orgs.township,
            "category": "elderly_care",
            "capacity": capacity,
            "due_on": local_today(utcnow()) + timedelta(days=30),
            "points": points,
        }
        task_id: str = commands.create_task(self.uow(), self.officer, commands.CreateTask(**data)).id
        self.models[task_id] = TaskState(capacity=capacity, points=points)
        if published:
            self.models[task_id].publish()
            commands.publish_task(self.uow(), self.officer, commands.PublishTask(task_id))
        return task_id

    @precondition(lambda self: self.tasks_in(domain.DRAFT))
    @rule(task_id=tasks)
    def publish(self, task_id: str) -> None:
        self.run(
            "publish",
            self.models[task_id].publish,
            lambda: commands.publish_task(self.uow(), self.officer, commands.PublishTask(task_id)),
        )

    @rule(task_id=tasks, index=MEMBER, assigned=st.booleans())
    def claim(self, task_id: str, index: int, assigned: bool) -> None:
        """Any member on any task: first claims, repeats, full and closed tasks."""
        self.add_claimant(task_id, self.members[index], assigned)

    @precondition(lambda self: self.joinable())
    @rule(data=st.data(), assigned=st.booleans(), a_leader=st.booleans())
    def join(self, data: st.DataObject, assigned: bool, a_leader: bool) -> None:
        """Someone joins a task others already hold (full or not): a helper, not the lead.
        Preferably one who leads elsewhere, so that a promotion can take them past the cap."""
        pairs = self.joinable()
        if a_leader:
            pairs = [
                (task_id, member_id) for task_id, member_id in pairs if self.model_leads(member_id)
            ] or pairs
        task_id, member_id = data.draw(st.sampled_from(pairs), label="task_id, member_id")
        self.add_claimant(task_id, member_id, assigned)

    @precondition(lambda self: self.tasks_in(domain.OPEN))
    @rule(data=st.data(), assigned=st.booleans(), a_leader=st.booleans())
    def first_claim(self, data: st.DataObject, assigned: bool, a_leader: bool) -> None:
        """Someone claims a task nobody holds, to lead it: one who leads elsewhere already
        (the cap), or one who does not (so that several members lead at once)."""
        task_id = data.draw(st.sampled_from(self.tasks_in(domain.OPEN)), label="task_id")
        leaders = self.leaders()
        others = [m for m in self.members[:INSIDERS] if m not in leaders]
        candidates = (leaders or others) if a_leader else (others or leaders)
        member_id = data.draw(st.sampled_from(candidates), label="member_id")
        self.add_claimant(task_id, member_id, assigned)

    @rule(task_id=tasks, index=MEMBER, by_officer=st.booleans())
    def withdraw(self, task_id: str, index: int, by_officer: bool) -> None:
        """Any member from any task: mostly refused (404 or 409)."""
        self.withdraw_member(task_id, self.members[index], by_officer)

    @precondition(lambda self: self.claimants_of_live_tasks())
    @rule(data=st.data(), by_officer=st.booleans())
    def claimant_withdraws(self, data: st.DataObject, by_officer: bool) -> None:
        """A claimant leaves, or an officer removes them; the lead too."""
        pick = st.sampled_from(self.claimants_of_live_tasks())
        task_id, member_id = data.draw(pick, label="task_id, member_id")
        self.withdraw_member(task_id, member_id, by_officer)

    @precondition(lambda self: self.shared_tasks())
    @rule(data=st.data(), by_officer=st.booleans())
    def lead_withdraws(self, data: st.DataObject, by_officer: bool) -> None:
        """The lead of a shared task leaves: the earliest remaining claimant takes over."""
        task_id = data.draw(st.sampled_from(self.shared_tasks()), label="task_id")
        lead = self.models[task_id].lead_member_id
        assert lead is not None
        self.withdraw_member(task_id, lead, by_officer)

    @precondition(lambda self: self.claimants_of_live_tasks())
    @rule(data=st.data(), percent=st.integers(0, 100))
    def claimant_reports(self, data: st.DataObject, percent: int) -> None:
        """Progress by a claimant; going back down is refused."""
        pick = st.sampled_from(self.claimants_of_live_tasks())
        task_id, member_id = data.draw(pick, label="task_id, member_id")
        self.report(task_id, member_id, percent)

    @precondition(lambda self: self.tasks_in(domain.IN_PROGRESS))
    @rule(data=st.data(), summary=st.sampled_from(["送餐八次", "全部完成"]))
    def lead_completes(self, data: st.DataObject, summary: str) -> None:
        task_id = data.draw(st.sampled_from(self.tasks_in(domain.IN_PROGRESS)), label="task_id")
        lead = self.models[task_id].lead_member_id
        assert lead is not None
        self.complete_by(task_id, lead, summary)

    @precondition(lambda self: self.tasks_in(domain.COMPLETED))
    @rule(
        data=st.data(),
        source=st.sampled_from(["org", "public", "member"]),
        index=MEMBER,
        rating=st.integers(1, 5),
    )
    def completed_task_evaluated(self, data: st.DataObject, source: str, index: int, rating: int) -> None:
        task_id = data.draw(st.sampled_from(self.tasks_in(domain.COMPLETED)), label="task_id")
        self.evaluate_by(task_id, source, index, rating)

    # Only once all the tasks exist, and never all of them: a cancelled task only refuses.
    @precondition(
        lambda self: len(self.models) == MAX_TASKS and len(self.tasks_in(domain.CANCELLED)) < MAX_TASKS - 1
    )
    @rule(task_id=tasks, why=st.sampled_from(["plans changed", None]))
    def officer_cancels(self, task_id: str, why: str | None) -> None:
        self.run(
            "cancel",
            self.models[task_id].cancel,
            lambda: commands.cancel_task(self.uow(), self.officer, commands.CancelTask(task_id, why)),
        )

    @rule(
        task_id=tasks,
        index=MEMBER,
        probe=st.sampled_from(
            ["complete", "progress", "org", "member", "public", "publish", "outsider", "outsider assigned"]
        ),
        rating=st.integers(1, 5),
    )
    def stray(self, task_id: str, index: int, probe: str, rating: int) -> None:
        """Any other operation, by anyone, on any task: mostly refused, and then harmless."""
        member_id = self.members[index]
        if probe == "complete":
            self.complete_by(task_id, member_id)
        elif probe == "progress":
            self.report(task_id, member_id, 10 * rating)
        elif probe in domain.SOURCES:
            self.evaluate_by(task_id, probe, index, rating)
        elif probe == "publish":
            self.run(
                "publish",
                self.models[task_id].publish,
                lambda: commands.publish_task(self.uow(), self.officer, commands.PublishTask(task_id)),
            )
        else:
            # A member of another township's branch is never admitted, claiming or assigned.
            if probe == "outsider":
                principal = self.member(self.outsider)
                call = lambda: commands.claim_task(self.uow(), principal, commands.ClaimTask(task_id, "我来"))  # noqa: E731
            else:
                assignment = commands.AssignMember(task_id, self.outsider)
                call = lambda: commands.assign_member(self.uow(), self.officer, assignment)  # noqa: E731
            outcome = self.run("outsider claim", None, call)
            assert isinstance(outcome, Forbidden | Conflict), f"an outsider was admitted: {outcome}"

    # the operations, on the model and on the service

    def add_claimant(self, task_id: str, member_id: str, assigned: bool) -> None:
        """A member claims, or an officer assigns them: the same places, lead and cap."""
        model = self.models[task_id]
        leading_before = self.live_leads(member_id)
        model_error: Conflict | None = None
        try:
            model_lead = model.claim(member_id, self.model_leads(member_id), CAP)
        except Conflict as error:
            model_error = error
        what = f"{'assign' if assigned else 'claim'} {member_id}"
        try:
            if assigned:
                result = commands.assign_member(
                    self.uow(), self.officer, commands.AssignMember(task_id, member_id)
                )
            else:
                result = commands.claim_task(
                    self.uow(), self.member(member_id), commands.ClaimTask(task_id, "我来")
                )
        except REFUSALS as error:
            self.refused = f"{what}: refused ({error.message})"
            assert model_error is not None, (
                f"{what}: the service refused ({error.message}); the model accepts"
            )
            assert reason(error.message) == reason(model_error.message), (
                f"{what}: refused for the wrong reason: {error.message!r}, expected {model_error.message!r}"
            )
            if reason(error.message) == "lead at most":
                assert leading_before >= CAP
            return
        assert model_error is None, f"{what}: the service accepted; the model refuses ({model_error.message})"
        assert result.lead == model_lead, f"{what}: lead {result.lead}, the model says {model_lead}"
        if result.lead:
            assert leading_before < CAP, f"{what}: took a lead while leading {leading_before} live tasks"
            self.claimed_leads.add((task_id, member_id))

    def withdraw_member(self, task_id: str, member_id: str, by_officer: bool) -> None:
        model = self.models[task_id]
        old_lead = model.lead_member_id
        principal = self.officer if by_officer else self.member(member_id)
        outcome = self.run(
            f"withdraw {member_id}",
            lambda: model.withdraw(member_id),
            lambda: commands.withdraw_claim(
                self.uow(), principal, commands.WithdrawClaim(task_id, member_id)
            ),
        )
        if isinstance(outcome, NuanliuError) or member_id != old_lead:
            return
        self.claimed_leads.discard((task_id, member_id))
        self.promoted_leads.discard((task_id, member_id))
        if model.lead_member_id is not None:
            self.promoted_leads.add((task_id, model.lead_member_id))

    def report(self, task_id: str, member_id: str, percent: int) -> None:
        self.run(
            f"progress {percent}% by {member_id}",
            lambda: self.models[task_id].report_progress(member_id, percent),
            lambda: commands.report_progress(
                self.uow(), self.member(member_id), commands.ReportProgress(task_id, percent, "走访三户")
            ),
        )

    def complete_by(self, task_id: str, member_id: str, summary: str = "done") -> None:
        self.run(
            f"complete by {member_id}",
            lambda: self.models[task_id].complete(member_id),
            lambda: commands.complete_task(
                self.uow(), self.member(member_id), commands.CompleteTask(task_id, summary)
            ),
        )

    def evaluate_by(self, task_id: str, source: str, index: int, rating: int) -> None:
        data = commands.EvaluateTask(task_id, source=source, rating=rating, comment="好")
        if source == "org":
            self.run(
                "org evaluation",
                self.models[task_id].evaluate_by_org,
                lambda: commands.evaluate_task(self.uow(), self.officer, data),
            )
            return
        # Member and resident ratings: the contract does not say when they are refused, so
        # either outcome goes; but they never award points nor move the task (invariants).
        principal = self.officer if source == "public" else self.member(self.members[index])
        outcome = self.run(
            f"{source} evaluation", None, lambda: commands.evaluate_task(self.uow(), principal, data)
        )
        if not isinstance(outcome, NuanliuError):
            status = self.models[task_id].status
            assert status in (domain.COMPLETED, domain.EVALUATED), f"a {source} evaluation of a {status} task"

    # invariants, read from the database after every step

    @invariant()
    def the_database_keeps_the_rules(self) -> None:
        snap = self.snapshot()
        if self.refused is not None:
            assert snap == self.last, f"{self.refused}, yet the database changed"
            self.refused = None
        for task_id, model in self.models.items():
            status, capacity, claimed, lead, progress, points, claimant_ids = snap.tasks[task_id]
            claimants = [claim[0] for claim in snap.claims[task_id]]
            assert claimant_ids == claimants, f"{task_id}: claimant_ids {claimant_ids}, claims {claimants}"
            assert len(claimants) <= capacity, f"{task_id} overbooked: {claimants} for {capacity} places"
            assert claimed == len(claimants), f"{task_id}: claimed={claimed}, {len(claimants)} claim rows"
            assert len(set(claimants)) == len(claimants), f"{task_id}: a member claimed twice: {claimants}"
            if claimants:
                assert lead == claimants[0], f"{task_id}: lead {lead}, earliest claimant {claimants[0]}"
            else:
                assert lead is None, f"{task_id}: lead {lead} without claimants"
            if status == domain.IN_PROGRESS:
                assert claimants, f"{task_id} in progress with no claimant"
            if status in (domain.DRAFT, domain.OPEN):
                assert not claimants, f"{task_id} is {status} with claimants {claimants}"

            awards = snap.awards[task_id]
            org_evaluations = [e for e in snap.evaluations[task_id] if e[0] == "org"]
            assert len(org_evaluations) <= 1, f"{task_id}: {len(org_evaluations)} org evaluations"
            if status == domain.EVALUATED:
                assert org_evaluations, f"{task_id} evaluated without an org evaluation"
                assert Counter(member for member, _ in awards) == Counter(claimants), (
                    f"{task_id}: awards {awards} for claimants {claimants}"
                )
                helpers = math.ceil(points / 2)
                assert dict(awards) == {m: points if m == lead else helpers for m in claimants}, (
                    f"{task_id}: awards {awards}, lead {lead}, {points} points"
                )
            else:
                assert not awards, f"{task_id} is {status} but awarded {awards}"
                assert not org_evaluations, f"{task_id} is {status} with an org evaluation"
            if awards or task_id in self.first_awards:
                assert self.first_awards.setdefault(task_id, awards) == awards, f"{task_id}: awards changed"

            assert (status, claimants, lead, progress) == (
                model.status,
                model.claimant_ids,
                model.lead_member_id,
                model.progress,
            ), f"{task_id}: the database and the domain model disagree"
            assert dict(awards) == model.awards

        live_leads = Counter(t[3] for t in snap.tasks.values() if t[0] in LIVE and t[3] is not None)
        for member_id in self.members:
            assert snap.leading.get(member_id, 0) == live_leads[member_id], (
                f"member_leads says {member_id} leads {snap.leading.get(member_id, 0)}, "
                f"the tasks say {live_leads[member_id]}"
            )
        live_led = {(t, s[3]) for t, s in snap.tasks.items() if s[0] in LIVE and s[3] is not None}
        assert live_led <= self.claimed_leads | self.promoted_leads, "a lead from nowhere"
        taken = Counter(member for task, member in live_led & self.claimed_leads)
        assert all(count <= CAP for count in taken.values()), f"claims took more than {CAP} leads: {taken}"
        self.last = snap


@pytest.fixture(scope="module")
def world(migrated) -> tuple[TasksDeps, Orgs, Registration]:
    orgs, registration = Orgs(), Registration()
    deps = TasksDeps(
        database=migrated("tasks"),
        orgs=orgs,  # type: ignore[arg-type]
        registration=registration,  # type: ignore[arg-type]
        max_led_open_tasks=CAP,
    )
    return deps, orgs, registration


def test_no_sequence_of_operations_overbooks_a_task_or_awards_points_twice(world):
    run_state_machine_as_test(lambda: TasksOnTheDatabase(*world), settings=SETTINGS)


def test_a_promotion_may_pass_the_cap_but_a_claim_never_does(world):
    """The one path past the cap, which random examples seldom reach: a member who leads
    one task (the cap) helps on another whose lead then leaves. Same machine, same checks."""
    machine = TasksOnTheDatabase(*world)
    check = machine.the_database_keeps_the_rules
    check()
    first, second, third = (machine.create(capacity=2, points=15, published=True) for _ in range(3))
    check()
    lead, other = machine.members[:2]
    for task_id, member_id in ((first, lead), (second, other), (second, lead)):
        machine.add_claimant(task_id, member_id, assigned=False)
        check()
    machine.withdraw_member(second, other, by_officer=False)  # `lead` takes over `second`
    check()
    assert machine.model_leads(lead) == 2 > CAP and machine.last.leading[lead] == 2
    machine.add_claimant(third, lead, assigned=True)  # refused: a claim respects the cap
    check()
    assert machine.models[third].status == domain.OPEN
    machine.complete_by(first, lead)
    check()
    machine.add_claimant(third, lead, assigned=False)  # still leading one: still refused
    check()
    machine.complete_by(second, lead)
    machine.evaluate_by(second, "org", 0, 5)
    check()
    machine.add_claimant(third, lead, assigned=False)  # leading none: now accepted
    check()
    assert machine.models[third].lead_member_id == lead and machine.last.leading[lead] == 1
    assert machine.last.awards[second] == [(lead, 15)]
