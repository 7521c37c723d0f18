"""The notify service's own tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.inbox import inbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


class Notification(Base):
    """One message in one person's (member) or one org's in-app inbox."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(100))
    recipient_kind: Mapped[str] = mapped_column(String(10))  # member | org
    recipient: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A second delivery of the same event can never add the same notification twice.
        UniqueConstraint("event_id", "recipient_kind", "recipient", name="uq_notifications_event_recipient"),
        Index("ix_notifications_recipient_id", "recipient_kind", "recipient", "id"),
    )


inbox = inbox_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
