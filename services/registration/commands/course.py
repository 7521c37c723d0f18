"""Use cases of the lost-contact course: contact attempts (找寻), the suspension-due notice,
the org department's standing decision, and the monthly coverage reminder (每月一摸排)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.registration import domain
from services.registration.commands.common import bump_version, member_event
from services.registration.commands.registry import follow_checkin
from services.registration.models import (
    ContactAttempt,
    CoverageReminder,
    Member,
    Org,
    StandingDecision,
)
from services.registration.queries import coverage_by_branch, not_reached_names
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.auth import ORG_ROLES, Principal
from shared.contracts.registration import (
    CONTACT_ATTEMPTED,
    COVERAGE_REMINDER_DUE,
    MEMBER_STANDING_CHANGED,
    MEMBER_SUSPENSION_DUE,
)
from shared.db import new_id
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.uow import Caller

# --- who may keep a member's contact course ------------------------------------------------


def course_member(uow: RegistrationUnitOfWork, actor: Principal, member_id: str, what: str) -> tuple[Member, Org | None]:
    """The member, if `actor` is a secretary, officer or department over the member's branch or
    over their open inflow's branch (or the admin); and that inflow branch when it is what lets the
    actor in. A missing member is a 404 to the admin only, the same 403 to everyone else."""
    member = uow.members.get(member_id)
    if member is None and actor.is_admin:
        raise NotFound(f"member {member_id} does not exist")
    if member is not None and (actor.is_admin or actor.role in ORG_ROLES):
        if domain.acts_for(actor, member.branch_path):
            return member, None
        # 双向管理: the branch of the member's open inflow (and those above it), as for reads.
        if member.inflow_branch_path and domain.acts_for(actor, member.inflow_branch_path):
            return member, uow.orgs.get(member.inflow_branch_code or "")
    raise Forbidden(f"you may not {what} this member")


# --- contact attempts ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordContactAttempt:
    member_id: str
    method: str
    result: str
    note: str | None = None
    lost_contact_days: int = 180


def record_contact_attempt(
    uow: RegistrationUnitOfWork, actor: Principal, command: RecordContactAttempt
) -> ContactAttempt:
    """An attempt to reach the member; a reached one is contact, as a check-in is (it ends a
    lost-contact episode)."""
    now = clock.utcnow()
    with uow:
        member, inflow = course_member(uow, actor, command.member_id, "record contact attempts for")
        attempt = ContactAttempt(
            id=new_id(),
            member_id=member.id,
            method=command.method,
            result=command.result,
            note=command.note,
            attempted_at=now,
            recorder_org_code=actor.org,
            inflow_branch_code=inflow.code if inflow else None,
            recorded_by=actor.sub,
            created_at=now,
        )
        uow.contacts.add_attempt(attempt)
        if command.result == "reached":
            follow_checkin(member, now, domain.contact_cutoff(now, command.lost_contact_days))
        uow.emit(
            CONTACT_ATTEMPTED,
            member.id,
            {
                **member_event(member),
                "attempt_id": attempt.id,
                "method": attempt.method,
                "result": attempt.result,
                "attempted_at": now.isoformat(),
                "actor": actor.sub,
                "actor_name": actor.name,
                "actor_org_code": actor.org,
                "inflow_branch_code": attempt.inflow_branch_code,
            },
        )
        uow.audit(actor, "record_contact_attempt", "member", member.id, attempt.id)
        uow.commit()
        return attempt


# --- the standing decision -------------------------------------------------------------------


@dataclass(frozen=True)
class DecideStanding:
    member_id: str
    standing: str
    reason: str
    decided_on: date


def decide_standing(uow: RegistrationUnitOfWork, actor: Principal, command: DecideStanding) -> StandingDecision:
    """停止党籍 / 恢复 / 除名: an org department above the member's branch decides, with a reason."""
    now = clock.utcnow()
    if command.decided_on > clock.local_today(now):
        raise InvalidInput("decided_on cannot be in the future", field="decided_on")
    with uow:
        member = uow.members.get(command.member_id)
        if actor.role != "org_department" or member is None or not domain.acts_for(actor, member.branch_path):
            raise Forbidden("only an org department above the member's branch decides their standing")
        previous = member.standing
        new = domain.standing_after(previous, command.standing)
        decision = StandingDecision(
            id=new_id(),
            member_id=member.id,
            standing=command.standing,
            previous_standing=previous,
            new_standing=new,
            reason=command.reason,
            decided_on=command.decided_on,
            decided_by=actor.sub,
            decided_by_org_code=actor.org,
            created_at=now,
        )
        uow.contacts.add_decision(decision)
        member.standing = new
        bump_version(member)
        deciding_org = uow.orgs.get(actor.org)
        uow.emit(
            MEMBER_STANDING_CHANGED,
            member.id,
            {
                **member_event(member),
                "standing": command.standing,
                "new_standing": new,
                "previous_standing": previous,
                "reason": command.reason,
                "decided_on": command.decided_on.isoformat(),
                "actor": actor.sub,
                "actor_name": actor.name,
                "actor_org_code": actor.org,
                "actor_org_name": deciding_org.name if deciding_org else None,
            },
        )
        uow.audit(actor, "decide_standing", "member", member.id, f"{previous}->{new}")
        uow.commit()
        return decision


# --- the suspension-due notice (the daily sweep) ---------------------------------------------


@dataclass(frozen=True)
class SweepSuspensionDue:
    suspension_due_days: int = 180
    now: datetime | None = None
    batch: int = 500


def sweep_suspension_due(uow: RegistrationUnitOfWork, actor: Caller, command: SweepSuspensionDue) -> int:
    """Announce, once per lost-contact episode, the members lost for the configured days with at
    least three failed attempts since the episode began. Returns how many were announced.

    A member announced is marked (`suspension_due_on`), so a retry or the next day's sweep skips
    them; regaining contact ends the episode and clears the mark."""
    now = command.now or clock.utcnow()
    today = clock.local_today(now)
    with uow:
        uow.members.lost_without_episode(today)
        uow.commit()
    announced = 0
    last_day = today - timedelta(days=command.suspension_due_days)
    after = ""
    while True:
        with uow:
            candidates = uow.members.suspension_candidates(last_day, after, command.batch)
            for member in candidates:
                since = member.lost_contact_since
                assert since is not None, "candidates are in a dated episode"
                attempts = uow.contacts.failed_attempts_since(member.id, domain.day_start(since, clock.CHINA_TIME))
                if domain.suspension_due(since, today, command.suspension_due_days, attempts):
                    _announce_suspension_due(uow, actor, member, since, attempts, today)
                    announced += 1
            uow.commit()
        if len(candidates) < command.batch:
            return announced
        # Those not due yet (too few attempts) stay unmarked: the next batch starts after them.
        after = candidates[-1].id


def _announce_suspension_due(
    uow: RegistrationUnitOfWork, actor: Caller, member: Member, since: date, attempts: int, today: date
) -> None:
    branch = uow.orgs.get(member.branch_code)
    levels = uow.orgs.levels_of(branch) if branch else {}
    county = uow.orgs.get(levels["county"]) if "county" in levels else None
    member.suspension_due_on = today
    uow.emit(
        MEMBER_SUSPENSION_DUE,
        member.id,
        {
            **member_event(member),
            "lost_contact_since": since.isoformat(),
            "not_reached_attempts": attempts,
            "county_code": county.code if county else None,
            "county_name": county.name if county else None,
        },
    )
    uow.audit(actor, "announce_suspension_due", "member", member.id)


# --- the monthly coverage reminder (the 25th, China time) -----------------------------------

# Event ids of reminders are derived from branch and month: announced twice, still one fact.
COVERAGE_NAMESPACE = uuid.UUID("6f1d3c1e-5b7a-4f0e-9a57-0c0e0a0c0025")
NAMES_IN_REMINDER = 20


@dataclass(frozen=True)
class RemindCoverage:
    month: str | None = None  # None: this month in China
    now: datetime | None = None


def coverage_event_id(branch_code: str, month: str) -> str:
    return str(uuid.uuid5(COVERAGE_NAMESPACE, f"coverage-reminder:{branch_code}:{month}"))


def remind_coverage(uow: RegistrationUnitOfWork, actor: Caller, command: RemindCoverage) -> int:
    """For each branch with mobile members not reached this month, one reminder to its
    secretaries (idempotent: a branch reminded for the month is not reminded again, and the
    event's id is the branch's and month's). Returns how many branches were reminded."""
    month = command.month or clock.current_month(command.now)
    start, end = domain.month_bounds(month, clock.CHINA_TIME)
    reminded = 0
    for branch_code, mobile, not_reached in coverage_by_branch(uow.database, start, end):
        if not_reached == 0:
            continue
        names = not_reached_names(uow.database, branch_code, start, end, NAMES_IN_REMINDER)
        with uow:
            if uow.session.get(CoverageReminder, (branch_code, month)) is not None:
                continue
            branch = uow.orgs.get(branch_code)
            if branch is None:
                continue
            uow.session.add(
                CoverageReminder(
                    branch_code=branch_code, month=month, not_reached=not_reached, created_at=clock.utcnow()
                )
            )
            uow.emit(
                COVERAGE_REMINDER_DUE,
                branch_code,
                {
                    "branch_code": branch.code,
                    "branch_name": branch.name,
                    "branch_path": branch.path_codes,
                    "month": month,
                    "mobile_members": mobile,
                    "not_reached": not_reached,
                    "not_reached_names": names,
                },
                event_id=coverage_event_id(branch_code, month),
            )
            uow.audit(actor, "remind_coverage", "org", branch_code, month)
            uow.commit()
            reminded += 1
    return reminded
