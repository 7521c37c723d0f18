"""Read queries of the notify API, on reader sessions: they return rows shaped like the
response schemas (`schemas.py` dumps them as they are)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from services.notify import domain
from services.notify.models import Delivery, Notification, Preference
from services.notify.repositories import PreferenceRepository, addressed_to, preferences_of
from shared.db import Database
from shared.pagination import decode_cursor, page


@dataclass(frozen=True)
class NotificationView:
    """A notification as its reader sees it, in their locale (NotificationSchema)."""

    id: str
    event_id: str
    type: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    link: str | None
    ref: dict[str, str] | None
    action_required: bool
    resolved_at: datetime | None

    @classmethod
    def of(cls, notification: Notification, locale: str = domain.DEFAULT_LOCALE) -> NotificationView:
        title, body = notification.text(locale)
        ref = (
            {"type": notification.ref_type, "id": notification.ref_id}
            if notification.ref_type and notification.ref_id
            else None
        )
        return cls(
            notification.id,
            notification.event_id,
            notification.type,
            title,
            body,
            notification.created_at,
            notification.read_at,
            notification.link,
            ref,
            bool(notification.action_required),
            notification.resolved_at,
        )


@dataclass(frozen=True)
class DeliveryView:
    """One delivery's status (DeliverySchema): a retry time only while one is due."""

    id: str
    event_id: str
    notification_id: str
    person: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    fallback_for: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            notification_id=delivery.notification_id,
            person=delivery.person,
            channel=delivery.channel,
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at if delivery.status in domain.DUE else None,
            sent_at=delivery.sent_at,
            fallback_for=delivery.fallback_for,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
        )


@dataclass(frozen=True)
class UnreadCount:
    unread: int


def list_notifications(
    database: Database, reader: domain.Reader, unread: bool | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The reader's notifications, newest first, in their preferred locale."""
    before = decode_cursor(cursor)
    query = (
        select(Notification)
        .where(addressed_to(domain.inboxes_of(reader)))
        .order_by(Notification.id.desc())
        .limit(limit + 1)
    )
    if unread:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    if before:
        query = query.where(Notification.id < str(before[0]))
    with database.reader() as session:
        locale = PreferenceRepository(session).locale_of(reader.sub)
        result = page(session.scalars(query).all(), limit, key=lambda n: (n.id,))
        result["items"] = [NotificationView.of(n, locale) for n in result["items"]]
        return result


def unread_count(database: Database, reader: domain.Reader) -> UnreadCount:
    with database.reader() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(addressed_to(domain.inboxes_of(reader)), Notification.read_at.is_(None))
        )
        return UnreadCount(count or 0)


def get_preferences(database: Database, reader: domain.Reader) -> domain.Preferences:
    """The reader's preferences (the defaults until they save some)."""
    with database.reader() as session:
        return preferences_of(session.get(Preference, reader.sub))


def list_deliveries(
    database: Database, event_id: str | None, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Oldest first, so a fallback follows the delivery it replaced."""
    after = decode_cursor(cursor)
    query = select(Delivery).order_by(Delivery.id).limit(limit + 1)
    if event_id:
        query = query.where(Delivery.event_id == event_id)
    if status:
        query = query.where(Delivery.status == status)
    if after:
        query = query.where(Delivery.id > str(after[0]))
    with database.reader() as session:
        result = page(session.scalars(query).all(), limit, key=lambda d: (d.id,))
        result["items"] = [DeliveryView.of(d) for d in result["items"]]
        return result
