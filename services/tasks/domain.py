"""Pure rules of adopted tasks (实事领办): the lifecycle, claims, progress, evaluation and points.

No Flask, no SQLAlchemy, no I/O. The use cases (commands, repositories) enforce the same rules atomically in SQL
(conditional updates and unique constraints); this module states them once, gives the 409
messages, and is what the property tests exercise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

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


# --- who may do what on a task ---------------------------------------------------------------
#
# One function per action decides, from a caller's Standing on a task, whether the action is
# allowed: it returns quietly, or raises the refusal (403 who, 404 whose claim, 409 when). The
# use cases call it before their atomic SQL; the task detail calls the same functions to list
# the caller's `allowed_actions`, so the two cannot disagree.

ACTIONS = ("publish", "claim", "withdraw", "assign", "progress", "complete", "evaluate", "cancel")
OFFICER_ROLES = ("township_officer", "org_department")


@dataclass(frozen=True)
class Standing:
    """What the rules know of one caller on one task (gathered by access.standing_of)."""

    role: str
    subject: str  # the caller's sub: a member's id
    org: str
    in_scope: bool  # the task lies in the caller's subtree (an officer, an admin or a service)
    open_to_branch: bool  # the task is open to the caller's branch (members and secretaries)
    status: str
    capacity: int
    claimed: int
    lead_member_id: str | None
    claimant: bool  # the caller holds a claim on the task
    leads: int = 0  # live tasks the caller leads
    max_led: int = 5
    evaluated: bool = False  # the caller has given their member evaluation


def _require_officer(standing: Standing, what: str) -> None:
    """An officer or admin whose subtree holds the task; services act through no endpoint here."""
    officer = standing.role in OFFICER_ROLES or standing.role == "admin"
    if not officer or not standing.in_scope:
        raise Forbidden(f"{standing.role} of {standing.org} may not {what} outside its subtree")


def check_place(
    open_to_branch: bool,
    status: str,
    member_id: str,
    already: bool,
    claimed: int,
    capacity: int,
    not_open: str,
) -> None:
    """Whether a member may take a place on a task (a claim or an assignment), in the order of
    precedence of the refusals: 403 not open to their branch, then 409 closed, repeat, full."""
    if not open_to_branch:
        raise Forbidden(not_open)
    require_status(status, CLAIMABLE, "claim")
    if already:
        raise Conflict(f"member {member_id} has already claimed this task")
    if claimed >= capacity:
        raise Conflict(f"this task is full: all {capacity} places are taken")


def check_publish(standing: Standing) -> None:
    _require_officer(standing, "publish tasks")
    require_status(standing.status, (DRAFT,), "publish")


def check_cancel(standing: Standing) -> None:
    _require_officer(standing, "cancel tasks")
    require_status(standing.status, CANCELLABLE, "cancel")


def check_claim(standing: Standing, not_open: str = "this task is not open to your branch") -> None:
    """A member takes a place on a task: by their own claim, or assigned (`not_open` then
    names them)."""
    if standing.role != "member":
        raise Forbidden("only a member claims a task; officers assign members")
    check_place(
        standing.open_to_branch,
        standing.status,
        standing.subject,
        standing.claimant,
        standing.claimed,
        standing.capacity,
        not_open,
    )
    if standing.lead_member_id is None and standing.leads >= standing.max_led:
        raise Conflict(f"a member may lead at most {standing.max_led} open tasks at once")


def check_assign(standing: Standing, member_id: str | None = None, member_holds_claim: bool = False) -> None:
    """The officer's part, and the place (a repeat before a full task, as a claim's refusals go);
    the assigned member's own standing is then checked like a claim (check_claim)."""
    if standing.role not in OFFICER_ROLES and standing.role != "admin":
        raise Forbidden("only an officer assigns members")
    _require_officer(standing, "assign members")
    require_status(standing.status, CLAIMABLE, "claim")
    if member_holds_claim:
        raise Conflict(f"member {member_id} has already claimed this task")
    if standing.claimed >= standing.capacity:
        raise Conflict(f"this task is full: all {standing.capacity} places are taken")


def check_withdraw(
    standing: Standing, member_id: str | None = None, member_holds_claim: bool | None = None
) -> None:
    """The claimant withdraws, or an officer removes a claimant. `member_id` None: the caller
    themself (a member) or any claimant (an officer)."""
    if standing.role == "member":
        if member_id not in (None, standing.subject):
            raise Forbidden("a member withdraws only their own claim")
        holds = standing.claimant
    else:
        _require_officer(standing, "remove claimants")
        holds = member_holds_claim if member_holds_claim is not None else standing.claimed > 0
    if not holds:
        raise NotFound(f"member {member_id or standing.subject} has not claimed this task")
    require_status(standing.status, CLAIMABLE, "withdraw from")


def check_report_progress(standing: Standing) -> None:
    if standing.role != "member" or not standing.claimant:
        raise Forbidden("only a claimant of this task reports progress")
    require_status(standing.status, (IN_PROGRESS,), "report progress on")


def check_complete(standing: Standing) -> None:
    if standing.role != "member" or standing.subject != standing.lead_member_id:
        raise Forbidden("only the lead claimant completes the task")
    require_status(standing.status, (IN_PROGRESS,), "complete")


def check_evaluate(standing: Standing, source: str) -> None:
    """Who may give which evaluation: the org's (an officer in scope; it closes the task), a
    member's (one per member of a branch it is open to, not a claimant), a resident's (recorded
    by an officer in scope or a secretary of a branch it is open to)."""
    if source == "org":
        _require_officer(standing, "evaluate tasks")
        require_status(standing.status, (COMPLETED,), "evaluate")
        return
    if source == "member":
        if standing.role != "member":
            raise Forbidden("a member evaluation comes from a member")
        if not standing.open_to_branch:
            raise Forbidden("this task is not open to your branch")
        if standing.claimant:
            raise Forbidden("claimants do not evaluate their own task")
    elif standing.role == "branch_secretary":
        if not standing.open_to_branch:
            raise Forbidden("this task is not open to your branch")
    elif standing.role in OFFICER_ROLES or standing.role == "admin":
        _require_officer(standing, "record public ratings")
    else:
        raise Forbidden("public ratings are recorded by officers and branch secretaries")
    require_status(standing.status, (COMPLETED,), f"add a {source} evaluation to")
    if source == "member" and standing.evaluated:
        raise Conflict("this task already has your member evaluation")


def _any_evaluation(standing: Standing) -> None:
    refusal: Forbidden | Conflict | None = None
    for source in SOURCES:
        try:
            check_evaluate(standing, source)
            return
        except (Forbidden, Conflict) as error:
            refusal = refusal or error
    assert refusal is not None
    raise refusal


_CHECKS = {
    "publish": check_publish,
    "claim": check_claim,
    "withdraw": check_withdraw,
    "assign": check_assign,
    "progress": check_report_progress,
    "complete": check_complete,
    "evaluate": _any_evaluation,
    "cancel": check_cancel,
}


def allowed_actions(standing: Standing) -> list[str]:
    """The actions the caller may take on the task now, in ACTIONS order."""
    allowed = []
    for action in ACTIONS:
        try:
            _CHECKS[action](standing)
        except (Forbidden, Conflict, NotFound):
            continue
        allowed.append(action)
    return allowed
