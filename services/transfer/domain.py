"""Pure rules of the relationship transfer (组织关系转接): stages, holders, the state machine.

No Flask, no SQLAlchemy, no I/O, no clocks: the workflow imports this module, so everything
here must be deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from shared.errors import Conflict, Forbidden, InvalidInput, NuanliuError

ROUTES = ("same_county", "cross_county", "cross_province")


@dataclass(frozen=True)
class StageKind:
    """One kind of approval stage, as data: which role holds it, on which side of the route its
    org sits, and which level of that side (the first one the tree has, going up).

    A route's chain is a sequence of these keys from configuration (settings.CHAINS), so a new
    kind of stage is a new entry here and a new chain, not new code (decision 0015)."""

    key: str
    role: str
    side: str  # "sending" or "receiving"
    levels: tuple[str, ...]
    label: str


# The orgs above a branch on one side, nearest first (RouteSide's fields).
LEVELS_UP = ("township", "county", "city", "province")

STAGE_KINDS: dict[str, StageKind] = {
    kind.key: kind
    for kind in (
        StageKind("sending_branch", "branch_secretary", "sending", ("branch",), "转出支部审核"),
        StageKind("township", "township_officer", "sending", LEVELS_UP, "乡镇（街道）党委审批"),
        StageKind("county", "org_department", "sending", LEVELS_UP[1:], "县级党委组织部审批"),
        StageKind(
            "receiving_county", "org_department", "receiving", LEVELS_UP[1:], "接收方县级党委组织部审批"
        ),
        StageKind("receiving_branch", "branch_secretary", "receiving", ("branch",), "接收支部审核"),
    )
}
STAGES = tuple(STAGE_KINDS)
# The four kinds every transfer had before chains became data: a run started before the
# "stage-chains-as-data" patch keeps a chain of these on resubmit.
LEGACY_STAGES = ("sending_branch", "township", "county", "receiving_branch")

# Which role holds each stage.
STAGE_ROLE = {key: kind.role for key, kind in STAGE_KINDS.items()}


def stage_label(stage: str | None) -> str | None:
    """The Chinese label of a stage key (or of its `pending_<stage>` status)."""
    if stage is None:
        return None
    kind = STAGE_KINDS.get(stage) or STAGE_KINDS.get(stage.removeprefix("pending_"))
    return kind.label if kind else None


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


def _side(kind: StageKind, sending: RouteSide, receiving: RouteSide) -> RouteSide:
    return receiving if kind.side == "receiving" else sending


def stage_org(stage: str, sending: RouteSide, receiving: RouteSide) -> str:
    """The org that holds `stage` for a route. A missing level falls back to the next one up."""
    kind = STAGE_KINDS[stage]
    side = _side(kind, sending, receiving)
    for level in kind.levels:
        code: str | None = getattr(side, level)
        if code:
            return code
    field = "to_branch_code" if kind.side == "receiving" else "member_id"
    raise InvalidInput(f"the {kind.side} branch has no {stage} above it", field=field)


def escalation_org(stage: str, sending: RouteSide, receiving: RouteSide) -> str | None:
    """The parent org told when `stage` turns overdue (docs/domain.md: escalate to the stage's parent)."""
    side = _side(STAGE_KINDS[stage], sending, receiving)
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


# --- who may do what now (one rule per action: the commands authorize with it, and the
# transfer's `allowed_actions` is computed from it, so the two cannot drift) -----------------

ACTIONS = ("approve", "reject", "return", "resubmit", "cancel", "report", "urge", "reissue")
STAFF_ROLES = ("township_officer", "org_department")
URGE_INTERVAL = timedelta(hours=24)


@dataclass(frozen=True)
class Caller:
    """The acting principal, as the rules see it."""

    sub: str
    role: str
    org: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class TransferFacts:
    """What the rules read of a transfer (its projection row, and what the caller looked up).

    `overdue`: the open stage is past its due time. `dues_months_behind`: None when not read
    (only the sending branch's approval needs it). `urged_at`: when this caller last urged the
    open stage, if they did."""

    member_id: str
    applicant: str
    from_branch_code: str
    to_branch_code: str
    from_path: str
    to_path: str
    status: str
    stage: str | None
    stage_org: str | None
    stage_path: str | None
    overdue: bool = False
    chain_orgs: frozenset[str] = frozenset()
    dues_months_behind: int | None = None
    urged_at: datetime | None = None


@dataclass(frozen=True)
class Permission:
    """The rule's answer: a refusal to raise (403, 409, 429), or leave to act; `acting_for` is
    the org whose overdue stage an org department above it decides (代办)."""

    refusal: Exception | None = None
    acting_for: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def check(self) -> Permission:
        if self.refusal is not None:
            raise self.refusal
        return self


class UrgedRecently(NuanliuError):
    """The same caller urged the same stage within URGE_INTERVAL: 429 with Retry-After."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _under(org: str, path: str | None) -> bool:
    return bool(path) and f"/{org}/" in str(path)


def is_participant(caller: Caller, facts: TransferFacts) -> bool:
    """Could the caller hold some stage of this transfer (past or ahead)? Then a miss is a 409."""
    if caller.org in facts.chain_orgs and caller.role in STAGE_ROLE.values():
        return True
    if caller.role == "branch_secretary":
        return caller.org in (facts.from_branch_code, facts.to_branch_code)
    return caller.role in STAFF_ROLES and _under(caller.org, facts.from_path)


def is_applicant_side(caller: Caller, facts: TransferFacts) -> bool:
    """The member, or a secretary of the sending branch: who may apply, resubmit and cancel."""
    if caller.role == "member":
        return caller.sub == facts.member_id
    return caller.role == "branch_secretary" and caller.org == facts.from_branch_code


def holds_stage(caller: Caller, facts: TransferFacts) -> bool:
    return (
        facts.stage is not None
        and caller.role == STAGE_ROLE.get(facts.stage)
        and caller.org == facts.stage_org
    )


def is_above_stage(caller: Caller, facts: TransferFacts) -> bool:
    """Staff of an org above the open stage's org (not the org itself)."""
    return (
        caller.role in STAFF_ROLES
        and facts.stage_org is not None
        and caller.org != facts.stage_org
        and _under(caller.org, facts.stage_path)
    )


def _decision_permission(action: str, caller: Caller, facts: TransferFacts) -> Permission:
    acting_for: str | None = None
    department_above = caller.role == "org_department" and is_above_stage(caller, facts)
    # The wrong org is refused before any state is looked at: an outsider must not learn from a
    # 409 that a transfer it may not read has finished or is waiting for a report-in.
    if not (caller.is_admin or is_participant(caller, facts) or department_above):
        return Permission(Forbidden(f"{caller.role} of {caller.org} holds no stage of this transfer"))
    if facts.stage is None or not is_open(facts.status):
        return Permission(Conflict(f"no stage is open: the transfer is {facts.status}"))
    if not (caller.is_admin or holds_stage(caller, facts)):
        if not department_above:
            # Someone with a part in this transfer, but not now: their stage is past or ahead.
            return Permission(Conflict(f"the transfer is at {facts.status}, held by {facts.stage_org}"))
        if not facts.overdue:
            return Permission(Forbidden(f"{facts.stage_org} may be acted for only once its stage is overdue"))
        acting_for = facts.stage_org
    if action == "approve" and facts.stage == "sending_branch" and (facts.dues_months_behind or 0) > 0:
        return Permission(
            Conflict(
                f"dues are {facts.dues_months_behind} month(s) behind: the sending branch approves "
                "once they are paid through the current month",
                field="dues_paid_through",
            )
        )
    return Permission(acting_for=acting_for)


def _urge_permission(caller: Caller, facts: TransferFacts, now: datetime) -> Permission:
    applicant = caller.sub == facts.applicant or (caller.role == "member" and caller.sub == facts.member_id)
    sending_secretary = caller.role == "branch_secretary" and caller.org == facts.from_branch_code
    if not (applicant or sending_secretary or is_above_stage(caller, facts)):
        return Permission(
            Forbidden("only the applicant, the sending secretary or an org above the stage urges")
        )
    if facts.stage is None or not is_open(facts.status):
        return Permission(Conflict(f"no stage is open to urge: the transfer is {facts.status}"))
    if facts.urged_at is not None and now < facts.urged_at + URGE_INTERVAL:
        wait = facts.urged_at + URGE_INTERVAL - now
        return Permission(
            UrgedRecently(
                "you urged this stage less than 24 hours ago", max(1, int(wait.total_seconds()) + 1)
            )
        )
    return Permission()


def permission(action: str, caller: Caller, facts: TransferFacts, now: datetime) -> Permission:
    """May `caller` take `action` on the transfer now? The one rule both for acting and for
    showing the action (allowed_actions)."""
    if action in DECISIONS:
        return _decision_permission(action, caller, facts)
    if action == "urge":
        return _urge_permission(caller, facts, now)
    if action == "resubmit":
        if not is_applicant_side(caller, facts):
            return Permission(
                Forbidden("only the applicant's side (the member or the sending secretary) may resubmit")
            )
        if facts.status != RETURNED:
            return Permission(Conflict(f"only a returned transfer can be resubmitted; it is {facts.status}"))
        return Permission()
    if action == "cancel":
        if not (caller.is_admin or is_applicant_side(caller, facts)):
            return Permission(Forbidden("only the member or the sending secretary may cancel"))
        if not is_open(facts.status):
            return Permission(Conflict(f"the transfer can no longer be cancelled: it is {facts.status}"))
        return Permission()
    if action == "report":
        allowed = (
            caller.is_admin
            or (caller.role == "member" and caller.sub == facts.member_id)
            or (caller.role == "branch_secretary" and caller.org == facts.to_branch_code)
        )
        if not allowed:
            return Permission(Forbidden("only the member or the receiving branch's secretary may report in"))
        if facts.status != LETTER_ISSUED:
            return Permission(Conflict(f"report-in needs an issued letter; the transfer is {facts.status}"))
        return Permission()
    if action == "reissue":
        sending_secretary = caller.role == "branch_secretary" and caller.org == facts.from_branch_code
        if not (caller.is_admin or sending_secretary):
            return Permission(Forbidden("only the sending branch's secretary may re-issue the letter"))
        if facts.status != EXPIRED:
            return Permission(
                Conflict(f"only an expired letter can be re-issued; the transfer is {facts.status}")
            )
        return Permission()
    raise ValueError(f"unknown action {action!r}")


def allowed_actions(caller: Caller, facts: TransferFacts, now: datetime) -> list[str]:
    return [action for action in ACTIONS if permission(action, caller, facts, now).allowed]


def is_overdue(flagged: bool, due_at: datetime | None, now: datetime) -> bool:
    """The open stage is overdue: marked so by the workflow, or past its due time already."""
    return flagged or (due_at is not None and now >= due_at)


# --- dues -------------------------------------------------------------------------------------


def months_behind(paid_through: str | None, today: date) -> int | None:
    """Whole months between `YYYY-MM` paid through and the month of `today` (0: paid up)."""
    if not paid_through:
        return None
    try:
        year, month = (int(part) for part in paid_through.split("-")[:2])
    except ValueError:
        return None
    return max(0, (today.year * 12 + today.month) - (year * 12 + month))


def current_month(today: date) -> str:
    return f"{today.year:04d}-{today.month:02d}"


def acted_for_note(org_name: str) -> str:
    """The timeline's words for a decision an org department above took for an overdue stage."""
    return f"代 {org_name} 办理"
