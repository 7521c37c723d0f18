"""Every writer of the transfer projection, shared by the API's use cases and the worker's steps.

The projection (transfers, their stages and timeline, applied steps, letter counters) has one
set of writers: the use cases call them when an application is made, and `record_step` calls
them for every transition the workflow decides. Plain table statements, built once per dialect:
a step runs for every transition of every transfer, and building a statement and computing its
cache key cost SQLAlchemy more than SQLite takes to run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.transfer import domain, letter_store
from services.transfer.messages import EventItem, StepRecord
from services.transfer.models import AppliedStep, LetterCounter, TimelineEntry, Transfer, TransferStage
from shared.contracts import transfer as events
from shared.db import affected, table_of

LETTER_EVENTS = (events.LETTER_ISSUED, events.LETTER_EXPIRING, events.EXPIRED)


def event_data(transfer: Any, org_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What every transfer event carries (shared/contracts/transfer.py), from a projection row
    (a Transfer, or anything with its column names as attributes), with the names the producer
    knows (`org_names`: org code → name) and the stage's Chinese label."""
    names = org_names or {}
    return {
        "transfer_id": transfer.id,
        "member_id": transfer.member_id,
        "member_name": transfer.member_name,
        "from_branch_code": transfer.from_branch_code,
        "to_branch_code": transfer.to_branch_code,
        "route": transfer.route,
        "status": transfer.status,
        "stage": transfer.current_stage,
        "stage_org_code": transfer.current_stage_org,
        "due_at": transfer.due_at.isoformat() if transfer.due_at else None,
        "from_branch_name": names.get(transfer.from_branch_code),
        "to_branch_name": names.get(transfer.to_branch_code),
        "stage_label": domain.stage_label(transfer.current_stage),
        "stage_org_name": names.get(transfer.current_stage_org) if transfer.current_stage_org else None,
    }


def step_event_data(
    transfer: Any, event: EventItem, org_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """An event of a step: the common fields, the step's extras, and the letter if it is about one."""
    data = {**event_data(transfer, org_names), **event.extra}
    if event.type in LETTER_EVENTS:
        data.update(
            letter_number=transfer.letter_number,
            issued_on=str(transfer.letter_issued_on),
            valid_until=str(transfer.letter_valid_until),
            dues_paid_through=transfer.letter_dues_paid_through,
        )
    return data


# The projection row's columns a step reads: what its events carry, the paths, and the letter.
STEP_ROW_COLUMNS = (
    "id",
    "member_id",
    "member_name",
    "from_branch_code",
    "to_branch_code",
    "route",
    "status",
    "current_stage",
    "current_stage_org",
    "due_at",
    "from_path",
    "to_path",
    "letter_number",
    "letter_issued_on",
    "letter_valid_until",
    "letter_dues_paid_through",
)


class StepStatements:
    """The statements of the projection's writers, built once per dialect.

    Values go in as parameters (`b_*` names the WHERE clause's, so none is taken for a column to
    SET)."""

    def __init__(self, dialect: str) -> None:
        # The dialect's INSERT, which has ON CONFLICT DO NOTHING.
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        steps, transfers = table_of(AppliedStep), table_of(Transfer)
        stages, counters = table_of(TransferStage), table_of(LetterCounter)
        # RETURNING, not rowcount: psycopg reports no rowcount for an upsert.
        self.claim = (
            insert(steps)
            .on_conflict_do_nothing(index_elements=["transfer_id", "step_key"])
            .returning(steps.c.step_key)
        )
        self.row = select(*(transfers.c[name] for name in STEP_ROW_COLUMNS)).where(
            transfers.c.id == bindparam("b_id")
        )
        # No .values(): the SET clause is the parameters' columns, compiled once per set of them.
        self.update = update(transfers).where(transfers.c.id == bindparam("b_id"))
        self.insert_stages = stages.insert()
        self.drop_stages = delete(stages).where(stages.c.transfer_id == bindparam("b_id"))
        self.mark_decided = (
            update(stages)
            .where(stages.c.transfer_id == bindparam("b_id"), stages.c.stage == bindparam("b_stage"))
            .values(decided_at=bindparam("b_at"))
        )
        self.insert_timeline = table_of(TimelineEntry).insert()
        self.open_counter = insert(counters).on_conflict_do_nothing(index_elements=["county_code", "year"])
        self.take_sequence = (
            update(counters)
            .where(counters.c.county_code == bindparam("b_county"), counters.c.year == bindparam("b_year"))
            .values(last_sequence=counters.c.last_sequence + 1)
            .returning(counters.c.last_sequence)
        )


@cache
def _built(dialect: str) -> StepStatements:
    return StepStatements(dialect)


def statements(session: Session) -> StepStatements:
    return _built(session.get_bind().dialect.name)


# --- the writers --------------------------------------------------------------------------


def claim_step(session: Session, transfer_id: str, step_key: str, at: datetime) -> bool:
    """Record a step as applied; False if it already was. One statement instead of a read then a
    write, and two attempts of one step cannot both pass: the second waits on the first's row."""
    claimed = session.execute(
        statements(session).claim, {"transfer_id": transfer_id, "step_key": step_key, "applied_at": at}
    ).scalar_one_or_none()
    return claimed is not None


def next_letter_sequence(session: Session, county_code: str, year: int) -> int:
    """Atomically take the next serial of a county committee: a row-locking UPDATE, no read-then-write."""
    built = statements(session)
    session.execute(built.open_counter, {"county_code": county_code, "year": year, "last_sequence": 0})
    return session.execute(built.take_sequence, {"b_county": county_code, "b_year": year}).scalar_one()


def replace_stages(session: Session, transfer: Any, chain: list[str], stage_orgs: dict[str, str]) -> None:
    """Write the plan's stages, none decided: at application, and again on each resubmit."""
    built = statements(session)
    session.execute(built.drop_stages, {"b_id": transfer.id})
    rows = [
        {
            "transfer_id": transfer.id,
            "stage": planned.stage,
            "position": planned.position,
            "org_code": planned.org_code,
            "org_path": planned.org_path,
            "decided_at": None,
        }
        for planned in domain.planned_stages(chain, stage_orgs, transfer.from_path, transfer.to_path)
    ]
    if rows:
        session.execute(built.insert_stages, rows)


def drop_stages(session: Session, transfer_id: str) -> None:
    """Only open transfers are pending or coming: a finished one keeps no stages."""
    session.execute(statements(session).drop_stages, {"b_id": transfer_id})


def mark_decided(session: Session, transfer: Any, stage: str, org_code: str, at: datetime) -> None:
    built = statements(session)
    marked = session.execute(built.mark_decided, {"b_id": transfer.id, "b_stage": stage, "b_at": at})
    if affected(marked) == 0:
        # A projection written without its stages (before migration 0003): record what we know.
        session.execute(
            built.insert_stages,
            {
                "transfer_id": transfer.id,
                "stage": stage,
                "position": domain.STAGES.index(stage) if stage in domain.STAGES else len(domain.STAGES),
                "org_code": org_code,
                "org_path": domain.org_path(org_code, transfer.from_path, transfer.to_path),
                "decided_at": at,
            },
        )


# --- one step of the workflow -------------------------------------------------------------


class MissingProjection(Exception):
    """A step names a transfer that has no projection row."""


def apply_step(session: Session, step: StepRecord) -> SimpleNamespace | None:
    """Apply one transition to the projection; None if this step was already applied.

    Returns the row as the step left it, for the events the step raises."""
    at = datetime.fromisoformat(step.at)
    built = statements(session)
    if not claim_step(session, step.transfer_id, step.step_key, at):
        return None
    row = session.execute(built.row, {"b_id": step.transfer_id}).first()
    if row is None:
        raise MissingProjection(f"transfer {step.transfer_id} has no projection")
    transfer = SimpleNamespace(**row._asdict())
    changes = step_changes(session, transfer, step, at)
    vars(transfer).update(changes)
    session.execute(built.update, {"b_id": transfer.id, **changes})
    if step.letter is not None:  # every number issued is kept: a re-issued letter verifies as superseded
        letter_store.record(session, transfer, at)
    _stages_and_timeline(session, transfer, step, at)
    return transfer


def step_changes(session: Session, transfer: Any, step: StepRecord, at: datetime) -> dict[str, Any]:
    """The projection's new column values for this step."""
    changes: dict[str, Any] = {
        "status": step.status,
        "current_stage": step.stage,
        "current_stage_org": step.stage_org,
        "due_at": datetime.fromisoformat(step.due_at) if step.due_at else None,
        "overdue": step.overdue,
        "updated_at": at,
    }
    to_path = transfer.to_path
    if step.plan is not None:
        to_path = step.plan.to_path or transfer.to_path
        changes.update(to_branch_code=step.plan.to_branch_code, route=step.plan.route, to_path=to_path)
    changes["current_stage_path"] = (
        domain.org_path(step.stage_org, transfer.from_path, to_path) if step.stage_org else None
    )
    if step.letter is not None:
        issued_on = domain.local_date(at)
        sequence = next_letter_sequence(session, step.letter.county_code, issued_on.year)
        changes.update(
            letter_number=domain.letter_number(step.letter.county_code, issued_on.year, sequence),
            letter_issued_on=issued_on,
            letter_valid_until=date.fromisoformat(step.letter.valid_until),
            letter_dues_paid_through=step.letter.dues_paid_through,
        )
    if step.failure_reason is not None:
        changes["failure_reason"] = step.failure_reason
    if step.receipt:
        changes["receipt_at"] = at
    if step.finished:
        changes.update(finished_at=at, open_member_id=None)  # the member may apply again
    return changes


def _stages_and_timeline(session: Session, transfer: Any, step: StepRecord, at: datetime) -> None:
    """`transfer` already carries this step's changes."""
    if step.plan is not None:
        replace_stages(session, transfer, step.plan.chain, step.plan.stage_orgs)
    if step.finished:
        drop_stages(session, transfer.id)
    entries = []
    for item in step.timeline:
        if not step.finished and item.action in domain.DECISIONS and item.stage and item.org_code:
            mark_decided(session, transfer, item.stage, item.org_code, at)
        entries.append(
            {
                "transfer_id": transfer.id,
                "at": at,
                "stage": item.stage,
                "org_code": item.org_code,
                "actor": item.actor,
                "action": item.action,
                "reason": item.reason,
                "acted_for_org_code": item.acted_for_org_code,
                "note": item.note,
            }
        )
    if entries:
        session.execute(statements(session).insert_timeline, entries)
