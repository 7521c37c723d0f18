"""Notify use cases: turn an event into notifications (once), read and mark the inbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from services.notify import domain
from services.notify.models import Notification, inbox
from shared.auth import ORG_ROLES, Principal
from shared.db import Database, new_id, utcnow
from shared.errors import NotFound
from shared.events import Envelope
from shared.inbox import first_delivery
from shared.pagination import decode_cursor, page

CONSUMER = "notify"


def handle_event(database: Database, envelope: Envelope) -> int:
    """Store the event's notifications; a redelivered event adds none. Returns how many were added."""
    messages = domain.messages_for(envelope)
    with database.transaction() as session:
        if not first_delivery(session, inbox, CONSUMER, envelope.id, envelope.type):
            return 0
        now = utcnow()
        for message in messages:
            session.add(
                Notification(
                    id=new_id(),
                    event_id=envelope.id,
                    type=envelope.type,
                    recipient_kind=message.recipient.kind,
                    recipient=message.recipient.id,
                    title=message.title,
                    body=message.body,
                    created_at=now,
                )
            )
        return len(messages)


def _addressed_to(principal: Principal) -> Any:
    mine = and_(Notification.recipient_kind == "member", Notification.recipient == principal.sub)
    if principal.role in ORG_ROLES:
        return or_(mine, and_(Notification.recipient_kind == "org", Notification.recipient == principal.org))
    return mine


def notification_view(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "event_id": notification.event_id,
        "type": notification.type,
        "title": notification.title,
        "body": notification.body,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


def list_notifications(
    database: Database, principal: Principal, unread: bool | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Newest first."""
    before = decode_cursor(cursor)
    with database.reader() as session:
        query = (
            select(Notification)
            .where(_addressed_to(principal))
            .order_by(Notification.id.desc())
            .limit(limit + 1)
        )
        if unread:
            query = query.where(Notification.read_at.is_(None))
        elif unread is False:
            query = query.where(Notification.read_at.is_not(None))
        if before:
            query = query.where(Notification.id < before[0])
        result = page(session.scalars(query).all(), limit, key=lambda n: (n.id,))
        result["items"] = [notification_view(n) for n in result["items"]]
        return result


def mark_read(database: Database, principal: Principal, notification_id: str) -> dict[str, Any]:
    with database.transaction() as session:
        notification = session.scalar(
            select(Notification).where(Notification.id == notification_id, _addressed_to(principal))
        )
        if notification is None:
            raise NotFound(f"notification {notification_id} does not exist")
        if notification.read_at is None:
            notification.read_at = utcnow()
        return notification_view(notification)
