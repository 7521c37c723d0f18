"""The pure task state machine: unit tests and hypothesis rule-based property tests."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from services.tasks import domain
from services.tasks.domain import TaskState
from shared.clock import quarter_of
from shared.errors import Conflict, InvalidInput


def test_points_lead_full_helpers_half_rounded_up():
    assert domain.award_points(15, "a", ["a", "b", "c"]) == {"a": 15, "b": 8, "c": 8}
    assert domain.award_points(10, "b", ["a", "b"]) == {"a": 5, "b": 10}
    assert domain.award_points(1, "a", ["a", "b"]) == {"a": 1, "b": 1}
    assert domain.award_points(0, "a", ["a", "b"]) == {"a": 0, "b": 0}


def test_quarters():
    assert quarter_of(date(2026, 11, 22)) == "2026-Q4"
    assert quarter_of(date(2026, 1, 1)) == "2026-Q1"
    assert domain.parse_quarter("2026-Q4") == (date(2026, 10, 1), date(2027, 1, 1))
    with pytest.raises(InvalidInput):
        domain.parse_quarter("2026-Q0")


def test_illegal_transitions_say_why():
    task = TaskState(capacity=1, points=10)
    with pytest.raises(Conflict, match="draft"):
        task.claim("a")
    task.publish()
    with pytest.raises(Conflict, match="open"):
        task.complete("a")
    task.claim("a")
    with pytest.raises(Conflict, match="full"):
        task.claim("b")
    task.complete("a")
    with pytest.raises(Conflict, match="already completed"):
        task.cancel()
    task.evaluate_by_org()
    with pytest.raises(Conflict, match="evaluated"):
        task.evaluate_by_org()


def test_overdue_only_while_live():
    today = date(2026, 11, 22)
    assert domain.is_overdue("open", date(2026, 11, 21), today)
    assert not domain.is_overdue("open", today, today)
    assert not domain.is_overdue("completed", date(2026, 1, 1), today)


def test_visibility_widens_to_the_county_in_the_open_hall():
    branch_path = ("CN", "P", "C", "T2", "B")
    assert domain.visible_to_branch("T2", "C", False, branch_path)
    assert not domain.visible_to_branch("T1", "C", False, branch_path)
    assert domain.visible_to_branch("T1", "C", True, branch_path)
    assert not domain.visible_to_branch("T1", "C9", True, branch_path)


MEMBERS = st.sampled_from(["m0", "m1", "m2", "m3"])  # few, so sequences reach evaluation


class TaskLifecycle(RuleBasedStateMachine):
    """Any sequence of operations, legal or not: illegal ones raise Conflict and change nothing."""

    @initialize(
        capacity=st.integers(1, 5),
        points=st.integers(0, 50),
        max_led=st.integers(1, 3),
        published=st.booleans(),
    )
    def start(self, capacity: int, points: int, max_led: int, published: bool) -> None:
        self.task = TaskState(capacity=capacity, points=points)
        if published:
            self.task.publish()
        self.max_led = max_led
        self.evaluations = 0
        self.awarded_total: dict[str, int] = {}

    def attempt(self, operation, *args):  # noqa: ANN201
        before = (
            self.task.status,
            list(self.task.claimant_ids),
            self.task.lead_member_id,
            self.task.progress,
        )
        try:
            return operation(*args)
        except Conflict:
            after = (
                self.task.status,
                list(self.task.claimant_ids),
                self.task.lead_member_id,
                self.task.progress,
            )
            assert after == before, "a refused operation changed the task"
            return None

    @rule()
    def publish(self) -> None:
        self.attempt(self.task.publish)

    @rule(member=MEMBERS, elsewhere=st.sampled_from([0, 0, 0, 1, 2, 3]))
    def claim(self, member: str, elsewhere: int) -> None:
        self.attempt(self.task.claim, member, elsewhere, self.max_led)

    @rule(member=MEMBERS)
    def withdraw(self, member: str) -> None:
        was_lead = self.task.lead_member_id == member
        remaining = [m for m in self.task.claimant_ids if m != member]
        result = self.attempt(self.task.withdraw, member)
        if was_lead and result is not None:
            assert result == remaining[0], "the earliest remaining claimant takes over"

    @rule(member=MEMBERS, percent=st.integers(0, 100))
    def progress(self, member: str, percent: int) -> None:
        before = self.task.progress
        self.attempt(self.task.report_progress, member, percent)
        assert self.task.progress >= before

    @rule(member=MEMBERS)
    def complete(self, member: str) -> None:
        self.attempt(self.task.complete, member)

    @rule()
    def lead_completes(self) -> None:
        # The lead by name: random members rarely hit them, and evaluation needs completion.
        self.attempt(self.task.complete, self.task.lead_member_id or "m0")

    @rule()
    def evaluate(self) -> None:
        awards = self.attempt(self.task.evaluate_by_org)
        if awards is not None:
            self.evaluations += 1
            for member, points in awards.items():
                assert member not in self.awarded_total, "points awarded twice"
                self.awarded_total[member] = points

    @rule()
    def cancel(self) -> None:
        self.attempt(self.task.cancel)

    @invariant()
    def never_overbooked(self) -> None:
        assert len(self.task.claimants) <= self.task.capacity
        assert len(set(self.task.claimant_ids)) == len(self.task.claimant_ids)

    @invariant()
    def one_lead_among_the_claimants(self) -> None:
        if self.task.claimants:
            assert self.task.lead_member_id in self.task.claimant_ids
        elif self.task.status in (domain.OPEN, domain.DRAFT):
            assert self.task.lead_member_id is None

    @invariant()
    def status_matches_claims(self) -> None:
        if self.task.status == domain.IN_PROGRESS:
            assert self.task.claimants
        if self.task.status == domain.OPEN:
            assert not self.task.claimants

    @invariant()
    def points_awarded_at_most_once(self) -> None:
        assert self.evaluations <= 1
        if self.evaluations:
            assert self.task.status == domain.EVALUATED
            lead = self.task.lead_member_id
            assert self.awarded_total[lead] == self.task.points
            assert all(
                points == -(-self.task.points // 2)
                for member, points in self.awarded_total.items()
                if member != lead
            )


TestTaskLifecycle = TaskLifecycle.TestCase
TestTaskLifecycle.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
