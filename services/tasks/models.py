"""The tasks service's own tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(60))
    # The township, and its materialised path "/CN/P/C/T/" copied at creation (paths never
    # change), so subtree filters are an indexed prefix match with no call to registration.
    org_code: Mapped[str] = mapped_column(String(40))
    org_path: Mapped[str] = mapped_column(String(500))
    county_code: Mapped[str | None] = mapped_column(String(40))
    capacity: Mapped[int] = mapped_column(Integer)
    # Kept equal to the number of claim rows by the same transactions; the conditional
    # UPDATE on it is what makes capacity atomic.
    claimed: Mapped[int] = mapped_column(Integer, default=0)
    # The claimants' member ids in claim order, kept by the same transactions as the claim rows:
    # a claim appends itself in its conditional UPDATE and reads the list back from RETURNING,
    # so the event that names every claimant costs no extra query.
    claimant_ids: Mapped[list[str]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=list, server_default="[]"
    )
    points: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    officer_id: Mapped[str] = mapped_column(String(80))
    lead_member_id: Mapped[str | None] = mapped_column(String(80))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hall_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_tasks_org_path_id", "org_path", "id", postgresql_ops={"org_path": "text_pattern_ops"}),
        Index("ix_tasks_status_id", "status", "id"),
        Index("ix_tasks_status_due_on", "status", "due_on"),
        Index("ix_tasks_county_id", "county_code", "id"),
        Index("ix_tasks_org_code_id", "org_code", "id"),
    )


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    member_id: Mapped[str] = mapped_column(String(80))
    branch_code: Mapped[str] = mapped_column(String(40))
    branch_path: Mapped[str] = mapped_column(String(500))
    commitment: Mapped[str | None] = mapped_column(Text)
    assigned_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # One claim per member per task, whatever the races.
    __table_args__ = (
        UniqueConstraint("task_id", "member_id", name="uq_claims_task_member"),
        Index("ix_claims_member_id", "member_id"),
    )


class MemberLeads(Base):
    """How many live tasks each member leads: a row per member, updated conditionally under
    its row lock, so the cap holds even when one member claims several tasks at once."""

    __tablename__ = "member_leads"

    member_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    leading: Mapped[int] = mapped_column(Integer, default=0)


class Progress(Base):
    __tablename__ = "progress_reports"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(80))
    percent: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    source: Mapped[str] = mapped_column(String(10))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    evaluator_id: Mapped[str] = mapped_column(String(80))
    # org and member evaluations: one per evaluator; public ratings: each its own key.
    dedup_key: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("task_id", "source", "dedup_key", name="uq_evaluations_task_source_key"),
        Index("ix_evaluations_task_id", "task_id"),
    )


class Award(Base):
    __tablename__ = "awards"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    member_id: Mapped[str] = mapped_column(String(80))
    points: Mapped[int] = mapped_column(Integer)
    # The member's branch path at award time: rankings per subtree need no other service.
    branch_path: Mapped[str] = mapped_column(String(500))
    quarter: Mapped[str] = mapped_column(String(7))
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # Points are awarded exactly once per task and member.
    __table_args__ = (
        UniqueConstraint("task_id", "member_id", name="uq_awards_task_member"),
        Index(
            "ix_awards_quarter_branch_path",
            "quarter",
            "branch_path",
            postgresql_ops={"branch_path": "text_pattern_ops"},
        ),
    )


outbox = Outbox(outbox_table(Base.metadata), "tasks")
audit_log = audit_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
