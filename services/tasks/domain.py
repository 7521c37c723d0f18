"""Pure rules of adopted tasks (实事领办): the lifecycle, claims, progress, evaluation and points.

No Flask, no SQLAlchemy, no I/O. The use cases (commands, repositories) enforce the same rules atomically in SQL
(conditional updates and unique constraints); this module states them once, gives the 409
messages, and is what the property tests exercise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from shared.errors import Conflict, InvalidInput

DRAFT = "draft"
OPEN = "open"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
EVALUATED = "evaluated"
CANCELLED = "cancelled"
STATUSES = (DRAFT, OPEN, IN_PROGRESS, COMPLETED, EVALUATED, CANCELLED)

# Statuses in which members may still claim, withdraw or be assigned.
CLAIMABLE = (OPEN, IN_PROGRESS)
# Statuses in which a task is still live: it can turn overdue, and its lead counts against the cap.
LIVE = (OPEN, IN_PROGRESS)
CANCELLABLE = (DRAFT, OPEN, IN_PROGRESS)

SOURCES = ("org", "member", "public")
MAX_CAPACITY = 50
# Due dates are local dates of the people who set them: "today" is shared.clock.local_today().


def is_overdue(status: str, due_on: date, today: date) -> bool:
    """Overdue: still live past its due date. Completed, evaluated and cancelled tasks never are."""
    return status in LIVE and due_on < today


def award_points(task_points: int, lead_member_id: str, claimant_ids: list[str]) -> dict[str, int]:
    """Points per claimant on the org evaluation.

    The lead (挂帅) gets the task's points; every other claimant gets half, rounded UP
    (ceil), so that an odd number of points never leaves a helper with less than half.
    E.g. 15 points: lead 15, each other claimant 8.
    """
    helper_points = math.ceil(task_points / 2)
    return {
        member_id: task_points if member_id == lead_member_id else helper_points for member_id in claimant_ids
    }


def check_new_task(capacity: int, points: int, due_on: date, today: date) -> None:
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(f"capacity must be 1-{MAX_CAPACITY}", field="capacity")
    if points < 0:
        raise InvalidInput("points must not be negative", field="points")
    if due_on < today:
        raise InvalidInput("due_on is in the past", field="due_on")


def require_status(status: str, allowed: tuple[str, ...], action: str) -> None:
    """Raise 409 with the reason when `action` is not allowed in `status`."""
    if status in allowed:
        return
    reasons = {
        DRAFT: "it is still a draft and must be published first",
        OPEN: "it is open and nobody has claimed it yet",
        IN_PROGRESS: "it is in progress",
        COMPLETED: "it is already completed",
        EVALUATED: "it is already evaluated and closed",
        CANCELLED: "it was cancelled",
    }
    raise Conflict(f"cannot {action} this task: {reasons.get(status, status)}")


def check_progress(percent: int, current: int) -> None:
    if percent < current:
        raise Conflict(f"progress only goes up: it is already {current}%, not {percent}%")


@dataclass
class Claimant:
    member_id: str
    order: int  # claim order; the earliest remaining claimant takes over the lead


@dataclass
class TaskState:
    """The lifecycle of one task, in memory. The service mirrors each transition in SQL."""

    capacity: int
    points: int
    status: str = DRAFT
    claimants: list[Claimant] = field(default_factory=list)
    lead_member_id: str | None = None
    progress: int = 0
    awards: dict[str, int] = field(default_factory=dict)
    _next_order: int = 0

    @property
    def claimant_ids(self) -> list[str]:
        return [claimant.member_id for claimant in sorted(self.claimants, key=lambda c: c.order)]

    def publish(self) -> None:
        require_status(self.status, (DRAFT,), "publish")
        self.status = OPEN

    def claim(self, member_id: str, leads_already: int = 0, max_led: int | None = None) -> bool:
        """Add a claimant; returns True when they become the lead."""
        require_status(self.status, CLAIMABLE, "claim")
        if any(claimant.member_id == member_id for claimant in self.claimants):
            raise Conflict("you have already claimed this task")
        if len(self.claimants) >= self.capacity:
            raise Conflict(f"this task is full: all {self.capacity} places are taken")
        becomes_lead = self.lead_member_id is None
        if becomes_lead and max_led is not None and leads_already >= max_led:
            raise Conflict(f"a member may lead at most {max_led} open tasks at once")
        self.claimants.append(Claimant(member_id, self._next_order))
        self._next_order += 1
        if becomes_lead:
            self.lead_member_id = member_id
        self.status = IN_PROGRESS
        return becomes_lead

    def withdraw(self, member_id: str) -> str | None:
        """Remove a claimant; returns the new lead if the lead left and someone remains."""
        require_status(self.status, CLAIMABLE, "withdraw from")
        remaining = [claimant for claimant in self.claimants if claimant.member_id != member_id]
        if len(remaining) == len(self.claimants):
            raise Conflict(f"member {member_id} has not claimed this task")
        self.claimants = remaining
        new_lead = None
        if self.lead_member_id == member_id:
            new_lead = next_lead(self.claimants)
            self.lead_member_id = new_lead
        if not self.claimants:
            self.status = OPEN
        return new_lead

    def report_progress(self, member_id: str, percent: int) -> None:
        require_status(self.status, (IN_PROGRESS,), "report progress on")
        if member_id not in self.claimant_ids:
            raise Conflict("only a claimant reports progress")
        check_progress(percent, self.progress)
        self.progress = percent

    def complete(self, member_id: str) -> None:
        require_status(self.status, (IN_PROGRESS,), "complete")
        if member_id != self.lead_member_id:
            raise Conflict("only the lead claimant completes the task")
        self.status = COMPLETED

    def evaluate_by_org(self) -> dict[str, int]:
        """The org evaluation closes the task and awards the points, exactly once."""
        require_status(self.status, (COMPLETED,), "evaluate")
        assert self.lead_member_id is not None  # a completed task always has its lead
        self.awards = award_points(self.points, self.lead_member_id, self.claimant_ids)
        self.status = EVALUATED
        return self.awards

    def cancel(self) -> None:
        require_status(self.status, CANCELLABLE, "cancel")
        self.status = CANCELLED


def next_lead(claimants: list[Claimant]) -> str | None:
    """When the lead leaves, the earliest remaining claimant takes over."""
    if not claimants:
        return None
    return min(claimants, key=lambda claimant: claimant.order).member_id


def scope_prefix(path_codes: list[str] | tuple[str, ...]) -> str:
    """The materialised path of an org, as stored on task rows: "/CN/P/C/T/"."""
    return "/" + "".join(f"{code}/" for code in path_codes)


def visible_to_branch(
    task_org_code: str, county_code: str | None, hall_open: bool, branch_path: tuple[str, ...]
) -> bool:
    """A member sees a task of their township, or of their county once it is in the open hall."""
    if task_org_code in branch_path:
        return True
    return hall_open and county_code is not None and county_code in branch_path


def parse_quarter(text: str) -> tuple[date, date]:
    """`YYYY-Qn` → [first day, first day of the next quarter)."""
    try:
        year_text, quarter_text = text.split("-Q")
        year, quarter = int(year_text), int(quarter_text)
    except ValueError as error:
        raise InvalidInput("quarter must look like 2026-Q4", field="quarter") from error
    if not 1 <= quarter <= 4 or not 2000 <= year <= 2999:
        raise InvalidInput("quarter must look like 2026-Q4", field="quarter")
    start = date(year, 3 * (quarter - 1) + 1, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, end
