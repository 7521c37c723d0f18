"""Repositories of the tasks service, over one SQLAlchemy session.

Concurrency: capacity, the single claim per member, the lead cap and the once-only transitions
are enforced here by conditional UPDATEs (checked by rowcount or RETURNING) and unique
constraints, never by a read followed by a write, so they hold on SQLite and PostgreSQL under
any interleaving. The use cases (commands) decide what to ask; these statements make it atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.tasks.domain import CLAIMABLE, IN_PROGRESS, LIVE, OPEN
from services.tasks.models import Award, Claim, Evaluation, MemberLeads, Progress, Task
from shared.db import PendingInsert, affected, table_of

# A sweep takes this many tasks per run; the next run takes the rest.
SWEEP_BATCH = 500


@dataclass(frozen=True)
class ClaimedTask:
    """The task as the claim's conditional UPDATE left it (its RETURNING)."""

    claimant_ids: list[str]
    status: str
    lead_member_id: str | None
    org_code: str
    county_code: str | None
    hall_opened_at: datetime | None
    title: str
    officer_id: str


_tasks = table_of(Task)
_CLAIM_RETURNS = tuple(_tasks.c[name] for name in ClaimedTask.__dataclass_fields__)


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, task_id: str, lock: bool = False) -> Task | None:
        return self.session.get(Task, task_id, with_for_update=lock or None)

    def add(self, task: Task) -> None:
        self.session.add(task)
        self.session.flush()

    def move(self, task: Task, allowed: tuple[str, ...], **values: Any) -> bool:
        """Change a task still in one of `allowed` statuses, exactly once whatever runs beside
        us; False if it was not (the task is then re-read, for the reason)."""
        return self._update_if(task, Task.status.in_(allowed), values)

    def add_claimant(self, task_id: str, member_id: str) -> ClaimedTask | None:
        """Take a place: the capacity check and the increment are one statement, so the
        database decides. The first claimant through it (holding the row lock on PostgreSQL,
        the database on SQLite) finds no lead and becomes it. None: no place was taken."""
        row = self.session.execute(
            update(_tasks)
            .where(
                _tasks.c.id == task_id, _tasks.c.claimed < _tasks.c.capacity, _tasks.c.status.in_(CLAIMABLE)
            )
            .values(
                claimed=_tasks.c.claimed + 1,
                status=IN_PROGRESS,
                lead_member_id=func.coalesce(_tasks.c.lead_member_id, member_id),
                claimant_ids=self._with_claimant(member_id),
            )
            .returning(*_CLAIM_RETURNS)
        ).first()
        return None if row is None else ClaimedTask(*row)

    def remove_claimant(self, task: Task, claimant_ids: list[str], lead_member_id: str | None) -> bool:
        """Give a place back (the claim row is deleted by the caller, under the task's lock)."""
        values: dict[str, Any] = {
            "claimed": Task.claimed - 1,
            "claimant_ids": claimant_ids,
            "lead_member_id": lead_member_id,
        }
        if not claimant_ids:
            values["status"] = OPEN
        return self._update_if(task, Task.status.in_(CLAIMABLE), values)

    def raise_progress(self, task: Task, percent: int) -> bool:
        """Progress only goes up, and only while the task is in progress."""
        condition = and_(Task.status == IN_PROGRESS, Task.progress <= percent)
        return self._update_if(task, condition, {"progress": percent})

    def due_for_hall(self, open_after: timedelta, now: datetime) -> list[str]:
        condition = _hall_due(open_after, now)
        return list(
            self.session.scalars(select(Task.id).where(condition).order_by(Task.id).limit(SWEEP_BATCH))
        )

    def open_to_hall(self, task_id: str, open_after: timedelta, now: datetime) -> Task | None:
        """Conditional, so each task enters the hall (and emits its event) once."""
        return self._flag(task_id, _hall_due(open_after, now), {"hall_opened_at": now})

    def due_for_overdue(self, today: date) -> list[str]:
        condition = _overdue_due(today)
        return list(
            self.session.scalars(select(Task.id).where(condition).order_by(Task.id).limit(SWEEP_BATCH))
        )

    def flag_overdue(self, task_id: str, today: date, now: datetime) -> Task | None:
        return self._flag(task_id, _overdue_due(today), {"overdue_flagged_at": now})

    def _flag(self, task_id: str, condition: ColumnElement[bool], values: dict[str, Any]) -> Task | None:
        flagged = self.session.execute(
            update(Task)
            .where(Task.id == task_id, condition)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return self.session.get(Task, task_id) if affected(flagged) else None

    def _update_if(self, task: Task, condition: ColumnElement[bool], values: dict[str, Any]) -> bool:
        result = self.session.execute(
            update(Task)
            .where(Task.id == task.id, condition)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        self.session.refresh(task)
        return bool(affected(result))

    def _with_claimant(self, member_id: str) -> Any:
        """`tasks.claimant_ids` with `member_id` appended, evaluated on the row being updated."""
        claimant_ids = _tasks.c.claimant_ids
        if self.session.get_bind().dialect.name == "postgresql":
            return claimant_ids.op("||")(func.jsonb_build_array(cast(literal(member_id), Text)))
        return func.json_insert(claimant_ids, "$[#]", member_id)


def _hall_due(open_after: timedelta, now: datetime) -> ColumnElement[bool]:
    return and_(
        Task.status == OPEN,
        Task.claimed == 0,
        Task.hall_opened_at.is_(None),
        Task.county_code.is_not(None),
        Task.published_at <= now - open_after,
    )


def _overdue_due(today: date) -> ColumnElement[bool]:
    return and_(Task.status.in_(LIVE), Task.due_on < today, Task.overdue_flagged_at.is_(None))


class ClaimRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_task(self, task_id: str) -> list[Claim]:
        """In claim order: the earliest is (or becomes) the lead."""
        statement = select(Claim).where(Claim.task_id == task_id).order_by(Claim.claimed_at, Claim.id)
        return list(self.session.scalars(statement))

    def get(self, task_id: str, member_id: str) -> Claim | None:
        return self.session.scalar(
            select(Claim).where(Claim.task_id == task_id, Claim.member_id == member_id)
        )

    def held(self, task_id: str, member_id: str) -> bool:
        statement = select(Claim.id).where(Claim.task_id == task_id, Claim.member_id == member_id)
        return self.session.scalar(statement) is not None

    def delete(self, claim: Claim) -> None:
        self.session.execute(delete(Claim).where(Claim.id == claim.id))

    @staticmethod
    def pending(values: dict[str, Any]) -> PendingInsert:
        """A claim row for the unit of work to write with its commit (uow.write_with_commit).
        The unique (task, member) refuses a second claim by one member at that moment."""
        return PendingInsert(table_of(Claim), values)


class LeadRepository:
    """How many live tasks each member leads (`member_leads`), within the configured cap."""

    def __init__(self, session: Session, cap: int) -> None:
        self.session = session
        self.cap = cap

    def take(self, member_id: str) -> bool:
        """Count one more live task led by `member_id`; False (nothing counted) past the cap."""
        return self.cap >= 1 and self._upsert(member_id, self.cap)

    def led_by(self, member_id: str) -> int:
        """How many live tasks `member_id` leads now."""
        count = self.session.scalar(select(MemberLeads.leading).where(MemberLeads.member_id == member_id))
        return int(count or 0)

    def promote(self, member_id: str) -> None:
        """A promotion is never refused: the task needs its lead more than the cap matters."""
        self._upsert(member_id, None)

    def release(self, member_id: str | None) -> None:
        if member_id is None:
            return
        self.session.execute(
            update(MemberLeads)
            .where(MemberLeads.member_id == member_id, MemberLeads.leading > 0)
            .values(leading=MemberLeads.leading - 1)
            .execution_options(synchronize_session=False)
        )

    def _upsert(self, member_id: str, cap: int | None) -> bool:
        """One upsert: a member's first lead inserts the row, later ones increment it under its
        row lock, and only while below the cap (the conflict update's WHERE)."""
        insert: Any = (
            postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        leads = table_of(MemberLeads)
        statement = insert(leads).values(member_id=member_id, leading=1)
        statement = statement.on_conflict_do_update(
            index_elements=[leads.c.member_id],
            set_={"leading": leads.c.leading + 1},
            where=None if cap is None else leads.c.leading < cap,
        )
        # RETURNING, not rowcount: an upsert's rowcount is not reported by every driver.
        return self.session.execute(statement.returning(leads.c.leading)).first() is not None


class ProgressRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, report: Progress) -> None:
        self.session.add(report)
        self.session.flush()


class EvaluationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def given(self, task_id: str, source: str, dedup_key: str) -> bool:
        statement = select(Evaluation.id).where(
            Evaluation.task_id == task_id, Evaluation.source == source, Evaluation.dedup_key == dedup_key
        )
        return self.session.scalar(statement) is not None

    def add(self, evaluation: Evaluation) -> bool:
        """False when its key is taken (one org evaluation per task, one per member): the unit
        of work must then be abandoned."""
        self.session.add(evaluation)
        try:
            self.session.flush()
        except IntegrityError:
            return False
        return True


class AwardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_all(self, awards: list[Award]) -> None:
        """Written with the next flush; the unique (task, member) keeps them once-only."""
        self.session.add_all(awards)
