"""The registration service's own tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


class Org(Base):
    __tablename__ = "orgs"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("orgs.code"), index=True)
    # Materialized path "/CN/TJ/.../CODE/": a subtree is a prefix match on an indexed column.
    path: Mapped[str] = mapped_column(String(500))
    region: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_orgs_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_orgs_region", "region", postgresql_ops={"region": "text_pattern_ops"}),
    )

    @property
    def path_codes(self) -> list[str]:
        return [code for code in self.path.split("/") if code]


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    branch_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    branch_path: Mapped[str] = mapped_column(String(500))
    joined_on: Mapped[date] = mapped_column(Date)
    dues_paid_through: Mapped[str] = mapped_column(String(7))
    mobile: Mapped[bool] = mapped_column(Boolean, default=False)
    lost_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    occupation: Mapped[str | None] = mapped_column(String(200))
    employer: Mapped[str | None] = mapped_column(String(200))
    current_address: Mapped[str | None] = mapped_column(String(300))
    departed_on: Mapped[date | None] = mapped_column(Date)
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index(
            "ix_members_branch_path_id",
            "branch_path",
            "id",
            postgresql_ops={"branch_path": "text_pattern_ops"},
        ),
        Index("ix_members_branch_id", "branch_code", "id"),
    )


class Checkin(Base):
    __tablename__ = "checkins"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    branch_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_checkins_member_id", "member_id", "id"),
        Index("ix_checkins_branch_id", "branch_code", "id"),
    )


outbox = Outbox(outbox_table(Base.metadata), "registration")
audit_log = audit_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
