"""The transfer service's own tables: the projection of each transfer that activities keep current."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


# Materialized paths compare bytewise ("C" collation on PostgreSQL; SQLite's BINARY already is),
# so a subtree is one range scan on a plain index: see domain.subtree_range.
PATH = String(500).with_variant(String(500, collation="C"), "postgresql")


outbox = Outbox(outbox_table(Base.metadata), "transfer")
audit_log = audit_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)


class Transfer(Base):
    """One transfer as the lists and dashboards see it; Temporal owns the process itself."""

    __tablename__ = "transfers"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(26), index=True)
    member_name: Mapped[str] = mapped_column(String(100))
    # Set while the transfer is open, NULL once finished: a unique index then allows one open
    # transfer per member even under concurrent applications.
    open_member_id: Mapped[str | None] = mapped_column(String(26), unique=True)
    applicant: Mapped[str] = mapped_column(String(80))
    applicant_role: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    route: Mapped[str] = mapped_column(String(20))
    from_branch_code: Mapped[str] = mapped_column(String(40), index=True)
    to_branch_code: Mapped[str] = mapped_column(String(40), index=True)
    # Materialized paths "/CN/.../BRANCH/" of both branches: scope checks and in/out counts.
    from_path: Mapped[str] = mapped_column(PATH)
    to_path: Mapped[str] = mapped_column(PATH)
    status: Mapped[str] = mapped_column(String(30))
    current_stage: Mapped[str | None] = mapped_column(String(30))
    current_stage_org: Mapped[str | None] = mapped_column(String(40))
    # The path of current_stage_org: what waits within a subtree (a county's dashboard).
    current_stage_path: Mapped[str | None] = mapped_column(PATH)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    letter_number: Mapped[str | None] = mapped_column(String(80), unique=True)
    letter_issued_on: Mapped[date | None] = mapped_column(Date)
    letter_valid_until: Mapped[date | None] = mapped_column(Date)
    letter_dues_paid_through: Mapped[str | None] = mapped_column(String(7))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_transfers_stage_org", "current_stage_org", "id"),
        Index("ix_transfers_status", "status", "id"),
        Index("ix_transfers_finished", "finished_at"),
        Index("ix_transfers_stage_path", "current_stage_path", "overdue"),
        Index("ix_transfers_from_path", "from_path", "finished_at"),
        Index("ix_transfers_to_path", "to_path", "finished_at"),
    )


class TimelineEntry(Base):
    """One step shown on the transfer's timeline; `org_code` feeds the 'done' box."""

    __tablename__ = "transfer_timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(String(26), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    stage: Mapped[str | None] = mapped_column(String(30))
    org_code: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    # Issue 21, 代办: the org whose overdue stage an org above decided, and the words shown
    # ("代 <org name> 办理"); an urge's note.
    acted_for_org_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_timeline_org", "org_code", "transfer_id"),)


class TransferStage(Base):
    """One stage of the current plan and whether its holder has decided in this round.

    Feeds the `pending` (decided) and `coming` (not yet) boxes. A resubmit replaces the rows;
    they are deleted when the transfer finishes, as only open transfers sit in those boxes."""

    __tablename__ = "transfer_stages"

    transfer_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    stage: Mapped[str] = mapped_column(String(30), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    org_code: Mapped[str] = mapped_column(String(40))
    org_path: Mapped[str | None] = mapped_column(PATH)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_transfer_stages_org", "org_code", "transfer_id"),
        Index("ix_transfer_stages_path", "org_path", "transfer_id"),
    )


class AppliedStep(Base):
    """Step keys already applied to the projection: a retried activity changes nothing twice."""

    __tablename__ = "transfer_steps"

    transfer_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    step_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LetterCounter(Base):
    """The serial numbers of introduction letters, one counter per county committee and year."""

    __tablename__ = "letter_counters"

    county_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer, default=0)


# --- documents (issue 20): every letter ever issued, so a superseded one still verifies --------


class Letter(Base):
    """One introduction letter as issued. The projection keeps only the current letter; a
    re-issue replaces its number there, so the old number is found here (and answers
    `superseded`). Written by `record_step` in the transaction that issues the letter."""

    __tablename__ = "transfer_letters"

    number: Mapped[str] = mapped_column(String(80), primary_key=True)
    transfer_id: Mapped[str] = mapped_column(String(26), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    dues_paid_through: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- approval as secretaries do it (issue 21) ---------------------------------------------------


class Urge(Base):
    """The last time a caller urged (催办) a transfer's stage: one row per transfer, stage and
    caller, moved forward only by an upsert whose condition is that 24 hours have passed, so two
    concurrent urges cannot both pass (decision 0009). Each urge itself is on the timeline and in
    the audit log."""

    __tablename__ = "transfer_urges"

    transfer_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    stage: Mapped[str] = mapped_column(String(30), primary_key=True)
    actor: Mapped[str] = mapped_column(String(80), primary_key=True)
    urged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer, default=1)
