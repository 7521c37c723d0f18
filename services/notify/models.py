"""The notify service's own tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
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
    title: Mapped[str] = mapped_column(String(300))  # zh-CN, the default locale
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The same message in English, shown to readers who prefer it.
    title_en: Mapped[str | None] = mapped_column(String(300))
    body_en: Mapped[str | None] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # What the notice is about (the console path of it, and its kind and id), and the action it
    # asks for (`decide:township`, `report`, ...), resolved for every recipient once anyone takes it.
    link: Mapped[str | None] = mapped_column(String(300))
    ref_type: Mapped[str | None] = mapped_column(String(20))
    ref_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(60))
    action_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the event happened: only a later event resolves the action it asks for.
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def text(self, locale: str) -> tuple[str, str]:
        """(title, body) in `locale`: English if asked for and stored, else the default zh-CN."""
        if locale == "en" and self.title_en:
            return self.title_en, self.body_en or ""
        return self.title, self.body

    __table_args__ = (
        # A second delivery of the same event can never add the same notification twice.
        UniqueConstraint("event_id", "recipient_kind", "recipient", name="uq_notifications_event_recipient"),
        Index("ix_notifications_recipient_id", "recipient_kind", "recipient", "id"),
        Index("ix_notifications_ref", "ref_type", "ref_id"),
    )


class Preference(Base):
    """One person's channels, quiet hours and locale, with the role and org their token had
    when they saved it: org-addressed messages go out on the channels of that org's people."""

    __tablename__ = "preferences"

    sub: Mapped[str] = mapped_column(String(80), primary_key=True)
    role: Mapped[str] = mapped_column(String(30))
    org: Mapped[str] = mapped_column(String(40))
    inapp: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    sms: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook: Mapped[bool] = mapped_column(Boolean, default=False)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    email_address: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # Signs this person's webhooks; made when they save a webhook URL, shown to them once.
    webhook_secret: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_preferences_org_role", "org", "role"),)


class Delivery(Base):
    """One notification on one channel to one person (or, in-app, to one inbox)."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    notification_id: Mapped[str] = mapped_column(String(26))
    person: Mapped[str] = mapped_column(String(80))  # a preference's sub, or the inbox for in-app
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(String(500))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    fallback_for: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # One delivery per notification, person and channel, even if a fallback is settled twice.
        UniqueConstraint("notification_id", "person", "channel", name="uq_deliveries_notification_channel"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_event", "event_id", "id"),
    )


class OrgTodo(Base):
    """What waits on an org, kept from events for the daily digest: transfers at its stage,
    and overdue tasks of its township."""

    __tablename__ = "org_todos"

    org_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # transfer | task
    ref_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(300))
    due: Mapped[str | None] = mapped_column(String(40))
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class TodoVersionRow(Base):
    """Which event last set what waits for one transfer or task, kept even when nothing waits
    any more: a late, older event must not bring back a to-do a newer one moved or closed."""

    __tablename__ = "todo_versions"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    ref_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[str] = mapped_column(String(64))


class ActionTaken(Base):
    """The latest event that took an action on a subject (`*`: closed it): a notice asking for it
    that arrives later but stems from an earlier event is resolved as it is stored."""

    __tablename__ = "actions_taken"

    ref_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    ref_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(60), primary_key=True)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime())
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Notifications past the retention window (a year), moved out of the live inbox table in batches:
# the same columns, no unique constraint or index the live reads need.
notifications_archive = Table(
    "notifications_archive",
    Base.metadata,
    *(
        Column(column.name, column.type, primary_key=column.primary_key, nullable=column.nullable)
        for column in Notification.__table__.columns
    ),
)

inbox = inbox_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
# Read by GET /api/v1/audit like every service's; notify's use cases write no entries yet.
audit_log = audit_table(Base.metadata)
# The retention prune picks the oldest inbox rows by age (migration 0005).
Index("ix_inbox_processed_at", inbox.c.processed_at)
