"""Notify use cases: events → notifications and deliveries (once), the inbox, preferences,
delivery attempts and fallbacks, and the daily digest. One transaction each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.notify import domain
from services.notify.models import Delivery, Notification, OrgTodo, Preference, inbox
from shared.auth import ORG_ROLES, Principal
from shared.db import Database, new_id, utcnow
from shared.errors import NotFound
from shared.events import Envelope
from shared.pagination import decode_cursor, page
from shared.settings import Settings

CONSUMER = "notify"
CLAIM_LEASE = timedelta(seconds=60)
DIGEST_TYPE = "notify.digest"


@dataclass(frozen=True)
class DeliveryPolicy:
    """The configurable parts of delivery: the readers' zone and the retry schedule."""

    zone: str = "Asia/Shanghai"
    max_attempts: int = 5
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            settings.notify_timezone,
            settings.delivery_max_attempts,
            settings.delivery_retry_base,
            settings.delivery_retry_cap,
        )


DEFAULT_POLICY = DeliveryPolicy()


# --- events → notifications -----------------------------------------------------------------


def handle_event(database: Database, envelope: Envelope, policy: DeliveryPolicy = DEFAULT_POLICY) -> int:
    """Store one event's notifications; a redelivered event adds none. Returns how many were added."""
    return handle_events(database, [envelope], policy)


def handle_events(
    database: Database, envelopes: Sequence[Envelope], policy: DeliveryPolicy = DEFAULT_POLICY
) -> int:
    """Store the notifications and deliveries of a batch of events in one transaction.

    The inbox rows are written in the same transaction, so an event seen before (in an earlier
    batch, or twice in this one) adds nothing. A concurrent duplicate fails on the inbox key at
    commit and rolls the whole batch back; the consumer then retries event by event.
    """
    with database.transaction() as session:
        ids = list({e.id for e in envelopes})
        seen = set(
            session.scalars(
                select(inbox.c.event_id).where(inbox.c.consumer == CONSUMER, inbox.c.event_id.in_(ids))
            )
        )
        fresh: list[Envelope] = []
        for envelope in envelopes:
            if envelope.id not in seen:
                seen.add(envelope.id)
                fresh.append(envelope)
        if not fresh:
            return 0
        now = utcnow()
        session.execute(
            inbox.insert(),
            [
                {"consumer": CONSUMER, "event_id": e.id, "event_type": e.type, "processed_at": now}
                for e in fresh
            ],
        )
        planned = [(e.id, e.type, m) for e in fresh for m in domain.messages_for(e, policy.zone)]
        added = _store_messages(session, planned, now, policy)
        for envelope in fresh:
            _apply_todo(session, domain.todo_change(envelope), now)
        return added


def _preferences_for(
    session: Session, recipients: set[domain.Recipient]
) -> dict[domain.Recipient, list[Preference]]:
    """Who reads each recipient's messages outside the app: the member, or the org's people."""
    members = {r.id for r in recipients if r.kind == "member"}
    orgs = {r.id for r in recipients if r.kind == "org"}
    if not members and not orgs:
        return {}
    conditions = []
    if members:
        conditions.append(Preference.sub.in_(members))
    if orgs:
        conditions.append(and_(Preference.org.in_(orgs), Preference.role.in_(ORG_ROLES)))
    found: dict[domain.Recipient, list[Preference]] = {}
    for preference in session.scalars(select(Preference).where(or_(*conditions))):
        if preference.sub in members:
            found.setdefault(domain.Recipient("member", preference.sub), []).append(preference)
        if preference.org in orgs and preference.role in ORG_ROLES:
            found.setdefault(domain.Recipient("org", preference.org), []).append(preference)
    return found


def _store_messages(
    session: Session,
    planned: list[tuple[str, str, domain.Message]],
    now: datetime,
    policy: DeliveryPolicy,
) -> int:
    if not planned:
        return 0
    people = _preferences_for(session, {message.recipient for _, _, message in planned})
    notifications: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for event_id, event_type, message in planned:
        notification_id = new_id()
        title_en, body_en = message.text("en")
        notifications.append(
            {
                "id": notification_id,
                "event_id": event_id,
                "type": event_type,
                "recipient_kind": message.recipient.kind,
                "recipient": message.recipient.id,
                "title": message.title[:300],
                "body": message.body,
                "title_en": title_en[:300],
                "body_en": body_en,
                "urgent": message.urgent,
                "created_at": now,
            }
        )
        base = {
            "event_id": event_id,
            "notification_id": notification_id,
            "urgent": message.urgent,
            "created_at": now,
            "updated_at": now,
            "last_error": None,
            "fallback_for": None,
            "claimed_until": None,
        }
        # The in-app inbox is the notification itself: delivered as it is stored.
        deliveries.append(
            {
                **base,
                "id": new_id(),
                "person": str(message.recipient),
                "channel": "inapp",
                "address": None,
                "locale": domain.DEFAULT_LOCALE,
                "status": domain.SENT,
                "attempts": 1,
                "next_attempt_at": None,
                "sent_at": now,
            }
        )
        for preference in people.get(message.recipient, []):
            view = preference_view(preference)
            held = None
            if not message.urgent and preference.quiet_start:
                held = domain.quiet_until(now, preference.quiet_start, preference.quiet_end, policy.zone)
            for channel, address in domain.planned_channels(view):
                deliveries.append(
                    {
                        **base,
                        "id": new_id(),
                        "person": preference.sub,
                        "channel": channel,
                        "address": address,
                        "locale": preference.locale,
                        "status": domain.QUEUED,
                        "attempts": 0,
                        "next_attempt_at": held or now,
                        "sent_at": None,
                    }
                )
    session.execute(Notification.__table__.insert(), notifications)
    session.execute(Delivery.__table__.insert(), deliveries)
    return len(notifications)


def _apply_todo(session: Session, change: domain.TodoChange | None, now: datetime) -> None:
    if change is None:
        return
    session.execute(delete(OrgTodo).where(OrgTodo.kind == change.kind, OrgTodo.ref_id == change.ref_id))
    if change.add:
        org_code, label, due = change.add
        session.add(
            OrgTodo(
                org_code=org_code,
                kind=change.kind,
                ref_id=change.ref_id,
                label=label[:300],
                due=due,
                since=now,
            )
        )


# --- the inbox ------------------------------------------------------------------------------


def _addressed_to(principal: Principal) -> Any:
    mine = and_(Notification.recipient_kind == "member", Notification.recipient == principal.sub)
    if principal.role in ORG_ROLES:
        return or_(mine, and_(Notification.recipient_kind == "org", Notification.recipient == principal.org))
    return mine


def notification_view(notification: Notification, locale: str = domain.DEFAULT_LOCALE) -> dict[str, Any]:
    english = locale == "en" and notification.title_en
    return {
        "id": notification.id,
        "event_id": notification.event_id,
        "type": notification.type,
        "title": notification.title_en if english else notification.title,
        "body": notification.body_en if english else notification.body,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


def _locale_of(session: Session, principal: Principal) -> str:
    return (
        session.scalar(select(Preference.locale).where(Preference.sub == principal.sub))
        or domain.DEFAULT_LOCALE
    )


def list_notifications(
    database: Database, principal: Principal, unread: bool | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Newest first, in the caller's preferred locale."""
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
            query = query.where(Notification.id < str(before[0]))
        locale = _locale_of(session, principal)
        result = page(session.scalars(query).all(), limit, key=lambda n: (n.id,))
        result["items"] = [notification_view(n, locale) for n in result["items"]]
        return result


def unread_count(database: Database, principal: Principal) -> dict[str, int]:
    with database.reader() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(_addressed_to(principal), Notification.read_at.is_(None))
        )
        return {"unread": count or 0}


def mark_read(database: Database, principal: Principal, notification_id: str) -> dict[str, Any]:
    with database.transaction() as session:
        notification = session.scalar(
            select(Notification).where(Notification.id == notification_id, _addressed_to(principal))
        )
        if notification is None:
            raise NotFound(f"notification {notification_id} does not exist")
        if notification.read_at is None:
            notification.read_at = utcnow()
        return notification_view(notification, _locale_of(session, principal))


def mark_all_read(database: Database, principal: Principal) -> dict[str, int]:
    with database.transaction() as session:
        result = session.execute(
            update(Notification)
            .where(_addressed_to(principal), Notification.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return {"marked": result.rowcount or 0}


# --- preferences ----------------------------------------------------------------------------

DEFAULT_PREFERENCE: dict[str, Any] = {
    "channels": {"inapp": True, "sms": False, "email": False, "webhook": False},
    "quiet_hours": None,
    "locale": domain.DEFAULT_LOCALE,
    "email": None,
    "phone": None,
    "webhook_url": None,
}


def preference_view(preference: Preference | None) -> dict[str, Any]:
    if preference is None:
        return {**DEFAULT_PREFERENCE, "channels": dict(DEFAULT_PREFERENCE["channels"])}
    quiet = {"start": preference.quiet_start, "end": preference.quiet_end} if preference.quiet_start else None
    return {
        "channels": {
            "inapp": preference.inapp,
            "sms": preference.sms,
            "email": preference.email,
            "webhook": preference.webhook,
        },
        "quiet_hours": quiet,
        "locale": preference.locale,
        "email": preference.email_address,
        "phone": preference.phone,
        "webhook_url": preference.webhook_url,
    }


def get_preferences(database: Database, principal: Principal) -> dict[str, Any]:
    with database.reader() as session:
        return preference_view(session.get(Preference, principal.sub))


def put_preferences(database: Database, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the caller's preferences, remembering the role and org of their token."""
    channels = body["channels"]
    quiet = body.get("quiet_hours")
    with database.transaction() as session:
        preference = session.get(Preference, principal.sub)
        if preference is None:
            preference = Preference(sub=principal.sub)
            session.add(preference)
        preference.role = principal.role
        preference.org = principal.org
        preference.inapp = channels["inapp"]
        preference.sms = channels["sms"]
        preference.email = channels["email"]
        preference.webhook = channels["webhook"]
        preference.quiet_start = quiet["start"] if quiet else None
        preference.quiet_end = quiet["end"] if quiet else None
        preference.locale = body["locale"]
        preference.email_address = body.get("email")
        preference.phone = body.get("phone")
        preference.webhook_url = body.get("webhook_url")
        preference.updated_at = utcnow()
        session.flush()
        return preference_view(preference)


# --- deliveries -----------------------------------------------------------------------------


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "notification_id": delivery.notification_id,
        "person": delivery.person,
        "channel": delivery.channel,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at if delivery.status in domain.DUE else None,
        "sent_at": delivery.sent_at,
        "fallback_for": delivery.fallback_for,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def list_deliveries(
    database: Database, event_id: str | None, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Oldest first, so a fallback follows the delivery it replaced."""
    after = decode_cursor(cursor)
    with database.reader() as session:
        query = select(Delivery).order_by(Delivery.id).limit(limit + 1)
        if event_id:
            query = query.where(Delivery.event_id == event_id)
        if status:
            query = query.where(Delivery.status == status)
        if after:
            query = query.where(Delivery.id > str(after[0]))
        result = page(session.scalars(query).all(), limit, key=lambda d: (d.id,))
        result["items"] = [delivery_view(d) for d in result["items"]]
        return result


@dataclass(frozen=True)
class OutgoingMessage:
    """A claimed delivery with the text to send, in the person's locale."""

    delivery_id: str
    event_id: str
    channel: str
    address: str | None
    title: str
    body: str
    status: str
    attempts: int


def claim_due(database: Database, limit: int = 50, now: datetime | None = None) -> list[OutgoingMessage]:
    """Lease due deliveries to this dispatcher; concurrent dispatchers never share one."""
    now = now or utcnow()
    due = and_(
        Delivery.status.in_(domain.DUE),
        Delivery.next_attempt_at <= now,
        or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
    )
    with database.transaction() as session:
        query = select(Delivery.id).where(due).order_by(Delivery.next_attempt_at).limit(limit)
        if not database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        if not ids:
            return []
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), due)
            .values(claimed_until=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(Delivery, Notification)
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Delivery.id.in_(ids))
        ).all()
        claimed = []
        for delivery, notification in rows:
            view = notification_view(notification, delivery.locale)
            claimed.append(
                OutgoingMessage(
                    delivery.id,
                    delivery.event_id,
                    delivery.channel,
                    delivery.address,
                    view["title"],
                    view["body"],
                    delivery.status,
                    delivery.attempts,
                )
            )
        return claimed


def record_attempt(
    database: Database,
    delivery_id: str,
    error: str | None,
    permanent: bool = False,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> str:
    """Apply one attempt's outcome to a claimed delivery; returns its new status."""
    with database.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        if delivery.status not in domain.DUE:
            return delivery.status  # settled meanwhile (e.g. an expired lease reclaimed it)
        outcome = domain.after_attempt(
            delivery.status,
            delivery.attempts,
            error,
            permanent,
            policy.max_attempts,
            policy.retry_base,
            policy.retry_cap,
        )
        now = utcnow()
        delivery.status = outcome.status
        delivery.attempts = outcome.attempts
        delivery.claimed_until = None
        delivery.updated_at = now
        delivery.last_error = error[:1000] if error else None
        if outcome.status == domain.SENT:
            delivery.sent_at = now
        delivery.next_attempt_at = None
        if outcome.retry_in:
            delivery.next_attempt_at = _not_in_quiet_hours(
                session, delivery.person, delivery.urgent, now + outcome.retry_in, policy.zone
            )
        return outcome.status


def _not_in_quiet_hours(session: Session, person: str, urgent: bool, moment: datetime, zone: str) -> datetime:
    """`moment`, or the end of the person's quiet hours if it falls inside them (unless urgent)."""
    if urgent:
        return moment
    preference = session.get(Preference, person)
    if preference is None or not preference.quiet_start:
        return moment
    return domain.quiet_until(moment, preference.quiet_start, preference.quiet_end, zone) or moment


def settle_failed(database: Database, limit: int = 100, policy: DeliveryPolicy = DEFAULT_POLICY) -> int:
    """Queue the fallback channel of each failed delivery and mark it dead. Returns how many."""
    settled = 0
    with database.transaction() as session:
        failed = session.scalars(
            select(Delivery).where(Delivery.status == domain.FAILED).order_by(Delivery.id).limit(limit)
        ).all()
        now = utcnow()
        for delivery in failed:
            preference = session.get(Preference, delivery.person)
            tried = set(
                session.scalars(
                    select(Delivery.channel).where(
                        Delivery.notification_id == delivery.notification_id,
                        Delivery.person == delivery.person,
                    )
                )
            )
            fallback = (
                domain.fallback_channel(delivery.channel, preference_view(preference), tried)
                if preference
                else None
            )
            if fallback:
                channel, address = fallback
                session.add(
                    Delivery(
                        id=new_id(),
                        event_id=delivery.event_id,
                        notification_id=delivery.notification_id,
                        person=delivery.person,
                        channel=channel,
                        address=address,
                        locale=delivery.locale,
                        status=domain.QUEUED,
                        attempts=0,
                        urgent=delivery.urgent,
                        next_attempt_at=_not_in_quiet_hours(
                            session, delivery.person, delivery.urgent, now, policy.zone
                        ),
                        fallback_for=delivery.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
            delivery.status = domain.settle_failed(delivery.status)
            delivery.updated_at = now
            settled += 1
    return settled


# --- the daily digest -----------------------------------------------------------------------


def send_digests(database: Database, day: date, policy: DeliveryPolicy = DEFAULT_POLICY) -> int:
    """One digest per org with something waiting, at most once per org and day. Returns how many."""
    with database.transaction() as session:
        rows = session.execute(
            select(OrgTodo.org_code, OrgTodo.kind, OrgTodo.label, OrgTodo.due).order_by(
                OrgTodo.org_code, OrgTodo.kind, OrgTodo.since
            )
        ).all()
        by_org: dict[str, list[tuple[str, str, str | None]]] = {}
        for org_code, kind, label, due in rows:
            by_org.setdefault(org_code, []).append((kind, label, due))
        event_ids = {org_code: f"digest-{day.isoformat()}-{org_code}" for org_code in by_org}
        done = set(
            session.scalars(
                select(Notification.event_id).where(Notification.event_id.in_(list(event_ids.values())))
            )
        )
        planned = [
            (event_ids[org_code], DIGEST_TYPE, domain.digest_message(org_code, todos))
            for org_code, todos in by_org.items()
            if event_ids[org_code] not in done
        ]
        return _store_messages(session, planned, utcnow(), policy)
