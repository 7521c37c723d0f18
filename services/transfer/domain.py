"""Pure rules of the relationship transfer (组织关系转接): stages, holders, the state machine.

No Flask, no SQLAlchemy, no I/O, no clocks: the workflow imports this module, so everything
here must be deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from shared.errors import Conflict, InvalidInput

ROUTES = ("same_county", "cross_county", "cross_province")
STAGES = ("sending_branch", "township", "county", "receiving_branch")

# Which role holds each stage, and on which side of the route its org sits.
STAGE_ROLE = {
    "sending_branch": "branch_secretary",
    "township": "township_officer",
    "county": "org_department",
    "receiving_branch": "branch_secretary",
}

LETTER_ISSUED = "letter_issued"
RETURNED = "returned"
COMPLETED = "completed"
REJECTED = "rejected"
CANCELLED = "cancelled"
EXPIRED = "expired"
FAILED = "failed"
TERMINAL = (COMPLETED, REJECTED, CANCELLED, EXPIRED, FAILED)
DECISIONS = ("approve", "reject", "return")
# The lists an org sees (docs/domain.md): waiting on it, its step done but not finished, reaching it
# later, finished.
BOXES = ("todo", "pending", "coming", "done")


def stage_status(stage: str) -> str:
    return f"pending_{stage}"


def stage_of(status: str) -> str | None:
    """The stage a `pending_<stage>` status waits on, or None when no stage is open."""
    stage = status.removeprefix("pending_")
    return stage if stage != status and stage in STAGES else None


def is_open(status: str) -> bool:
    return status not in TERMINAL


def parse_chain(text: str) -> tuple[str, ...]:
    """A chain from configuration, e.g. `sending_branch,township,receiving_branch`."""
    chain = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [stage for stage in chain if stage not in STAGES]
    if unknown or not chain:
        raise ValueError(f"not a transfer chain: {text!r} (stages: {', '.join(STAGES)})")
    if len(set(chain)) != len(chain):
        raise ValueError(f"a stage repeats in the transfer chain {text!r}")
    return chain


@dataclass(frozen=True)
class RouteSide:
    """One side of a route: a branch and its ancestors by level (None where the tree skips one)."""

    branch: str
    township: str | None = None
    county: str | None = None
    city: str | None = None
    province: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, str | None]) -> RouteSide:
        return cls(**{key: data.get(key) for key in ("branch", "township", "county", "city", "province")})  # type: ignore[arg-type]


def stage_org(stage: str, sending: RouteSide, receiving: RouteSide) -> str:
    """The org that holds `stage` for a route. A missing level falls back to the next one up."""
    if stage == "sending_branch":
        return sending.branch
    if stage == "receiving_branch":
        return receiving.branch
    candidates: tuple[str | None, ...]
    if stage == "township":
        candidates = (sending.township, sending.county, sending.city, sending.province)
    else:
        candidates = (sending.county, sending.city, sending.province)
    for code in candidates:
        if code:
            return code
    raise InvalidInput(f"the sending branch has no {stage} above it", field="member_id")


def escalation_org(stage: str, sending: RouteSide, receiving: RouteSide) -> str | None:
    """The parent org told when `stage` turns overdue (docs/domain.md: escalate to the stage's parent)."""
    side = receiving if stage == "receiving_branch" else sending
    ladder = (side.branch, side.township, side.county, side.city, side.province)
    holder = stage_org(stage, sending, receiving)
    above = [code for code in ladder[ladder.index(holder) + 1 :] if code] if holder in ladder else []
    return above[0] if above else None


def org_path(code: str, *paths: str) -> str | None:
    """The materialized path "/CN/.../CODE/" of an org named on one of `paths`, else None.

    Paths from the root are unique per org, so any path that names it gives the same prefix."""
    mark = f"/{code}/"
    for path in paths:
        at = path.find(mark)
        if at >= 0:
            return path[: at + len(mark)]
    return None


def subtree_range(path: str) -> tuple[str, str]:
    """Bounds [low, high) that hold, in byte order, exactly the paths at or under `path`.

    "0" is the byte after "/", so a range scan on a bytewise index replaces a LIKE prefix."""
    if not (path.startswith("/") and path.endswith("/")):
        raise ValueError(f"not a materialized path: {path!r}")
    return path, path[:-1] + chr(ord("/") + 1)


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a transfer's chain and the org that holds it, for the lists of that org."""

    position: int
    stage: str
    org_code: str
    org_path: str | None


def planned_stages(
    chain: Sequence[str], stage_orgs: Mapping[str, str], from_path: str, to_path: str
) -> list[PlannedStage]:
    return [
        PlannedStage(position, stage, stage_orgs[stage], org_path(stage_orgs[stage], from_path, to_path))
        for position, stage in enumerate(chain)
    ]


def letter_county(sending: RouteSide) -> str:
    """The county committee that numbers the letter (the nearest level above the township)."""
    return sending.county or sending.city or sending.province or sending.township or sending.branch


# Letters are dated as the offices that issue them date things: China Standard Time, which has
# no daylight saving, so a fixed offset needs no time-zone database (and stays deterministic).
CHINA_TIME = timezone(timedelta(hours=8), "CST")


def local_date(at: datetime) -> date:
    """The calendar date in China at instant `at`: 00:30 in Beijing is already the next day."""
    return at.astimezone(CHINA_TIME).date()


def letter_number(county_code: str, year: int, sequence: int) -> str:
    return f"{county_code}-{year}-{sequence:06d}"


def check_new_transfer(member_branch: str, to_branch: str) -> None:
    if member_branch == to_branch:
        raise InvalidInput("the receiving branch is the member's current branch", field="to_branch_code")


def check_decision(decision: str, reason: str | None) -> None:
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}", field="decision")
    if decision in ("reject", "return") and not (reason and reason.strip()):
        raise InvalidInput(f"a reason is required to {decision}", field="reason")


# --- the process ----------------------------------------------------------------------------


@dataclass
class Process:
    """Where a transfer stands. The workflow owns one; every update is checked against it."""

    chain: list[str]
    status: str = field(default="")
    stage_index: int = 0
    reported: bool = False

    def __post_init__(self) -> None:
        if not self.status:
            self.status = stage_status(self.chain[0])

    @property
    def stage(self) -> str | None:
        return stage_of(self.status)

    def check_decide(self, expected_stage: str | None) -> None:
        if self.stage is None:
            raise Conflict(f"no stage is open: the transfer is {self.status}")
        if expected_stage is not None and expected_stage != self.stage:
            raise Conflict(f"the {expected_stage} stage is already decided; now {self.status}")

    def decide(self, decision: str) -> str:
        """Apply a decision at the open stage; returns the new status."""
        self.check_decide(None)
        if decision == "approve":
            self.stage_index += 1
            if self.stage_index >= len(self.chain):
                self.status = LETTER_ISSUED
            else:
                self.status = stage_status(self.chain[self.stage_index])
        elif decision == "reject":
            self.status = REJECTED
        elif decision == "return":
            self.status = RETURNED
        else:
            raise InvalidInput(f"unknown decision {decision}", field="decision")
        return self.status

    def check_resubmit(self) -> None:
        if self.status != RETURNED:
            raise Conflict(f"only a returned transfer can be resubmitted; it is {self.status}")

    def resubmit(self, chain: Sequence[str]) -> str:
        self.check_resubmit()
        self.chain = list(chain)
        self.stage_index = 0
        self.status = stage_status(self.chain[0])
        return self.status

    def check_cancel(self) -> None:
        if not is_open(self.status) or self.reported:
            raise Conflict(f"the transfer can no longer be cancelled: it is {self.status}")

    def cancel(self) -> str:
        self.check_cancel()
        self.status = CANCELLED
        return self.status

    def check_report(self) -> None:
        if self.status != LETTER_ISSUED or self.reported:
            raise Conflict(f"report-in needs an issued letter; the transfer is {self.status}")

    def report(self) -> None:
        self.check_report()
        self.reported = True

    def expire(self) -> str:
        if self.status != LETTER_ISSUED or self.reported:
            raise Conflict(f"only an unreported letter expires; the transfer is {self.status}")
        self.status = EXPIRED
        return self.status

    def finish(self, moved: bool) -> str:
        self.status = COMPLETED if moved else FAILED
        return self.status
