"""Notify's write use cases, one unit of work each: events → notifications and deliveries
(once), marking read, preferences, delivery attempts and fallbacks, and the daily digest.

The reader-facing ones take the caller (`actor`); the consumer's and the dispatcher's act for
no one, so they take the delivery policy (zone, retry schedule) instead."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from services.notify import domain
from services.notify.channels import OutgoingMessage
from services.notify.directory import Names, NoNames
from services.notify.models import Delivery, Preference
from services.notify.queries import NotificationView
from services.notify.rendering import NAMES_FIELD, ORG_FIELDS, RenderedMessage, render_message
from services.notify.repositories import preferences_of, reach_of
from services.notify.unit_of_work import NotifyUnitOfWork
from services.notify.webhook_address import WebhookGuard, subscriber_secret
from shared.db import new_id, utcnow
from shared.errors import NotFound
from shared.events import Envelope

CLAIM_LEASE = timedelta(seconds=60)
DEFAULT_POLICY = domain.DEFAULT_POLICY

# --- events → notifications -----------------------------------------------------------------


@dataclass(frozen=True)
class HandleEvents:
    """A batch of events as the consumer received them (duplicates and redeliveries included)."""

    envelopes: tuple[Envelope, ...]


def handle_events(
    uow: NotifyUnitOfWork,
    command: HandleEvents,
    policy: domain.DeliveryPolicy = DEFAULT_POLICY,
    names: Names | None = None,
) -> int:
    """Store the notifications and deliveries of a batch of events, and what now waits on orgs;
    resolve the notices whose action these events take.

    An event seen before (in an earlier batch, or twice in this one) adds nothing: the inbox
    rows are written in the same transaction. Names the events lack are looked up (`names`)
    before the transaction begins. Returns how many notifications were added."""
    envelopes = with_names(command.envelopes, names or NoNames())
    with uow:
        now = utcnow()
        fresh = uow.inbox.first_deliveries(envelopes, now)
        if not fresh:
            return 0  # nothing written: leaving without a commit rolls back nothing
        planned = [(e.id, e.time, message) for e in fresh for message in domain.messages_for(e)]
        added = _store_messages(uow, planned, now, policy)
        changes = [c for c in map(domain.todo_change, fresh) if c is not None]
        # Versions decide which change wins, so the order of applying is free: sorted, concurrent
        # batches lock the same refs in the same order and cannot deadlock on them.
        for change in sorted(changes, key=lambda c: (c.kind, c.ref_id, c.version)):
            uow.todos.apply(change, now)
        taken = latest_resolutions((r, e.time) for e in fresh for r in domain.resolutions_for(e))
        uow.actions.take_all(taken, now)
        uow.notifications.resolve_all(taken, now)
        uow.commit()
        return added


def latest_resolutions(
    taken: Iterable[tuple[domain.Resolution, datetime]],
) -> list[tuple[domain.Resolution, datetime]]:
    """Each (subject, action) once, at the latest event that took it (it covers the earlier ones:
    a notice is resolved when it stems from an event before the taking), sorted, so that
    concurrent batches lock the same rows in the same order."""
    latest: dict[tuple[str, str, str], tuple[domain.Resolution, datetime]] = {}
    for resolution, event_at in taken:
        key = (resolution.ref.type, resolution.ref.id, resolution.action)
        if key not in latest or event_at > latest[key][1]:
            latest[key] = (resolution, event_at)
    return [latest[key] for key in sorted(latest)]


# Task events name members by id only; older events name orgs by code only.
_MEMBER_ID_FIELDS = ("member_id", "lead_member_id")


def with_names(envelopes: tuple[Envelope, ...], names: Names) -> tuple[Envelope, ...]:
    """The envelopes, each with the directory names of the orgs and members it names by code or
    id alone (under `NAMES_FIELD`), so its notices can name them."""
    wanted_orgs: set[str] = set()
    wanted_members: set[str] = set()
    for envelope in envelopes:
        data = envelope.data
        for code_field, name_field, _ in ORG_FIELDS:
            if data.get(code_field) and not data.get(name_field):
                wanted_orgs.add(str(data[code_field]))
        for id_field in _MEMBER_ID_FIELDS:
            member_id = data.get(id_field)
            # `member_name` names the member of `member_id`; a task's lead is named by id only.
            if member_id and not (data.get("member_name") and member_id == data.get("member_id")):
                wanted_members.add(str(member_id))
    if not wanted_orgs and not wanted_members:
        return envelopes
    orgs = names.org_names(sorted(wanted_orgs)) if wanted_orgs else {}
    members = names.member_names(sorted(wanted_members)) if wanted_members else {}
    if not orgs and not members:
        return envelopes
    found = {"org": orgs, "member": members}
    return tuple(replace(e, data={**e.data, NAMES_FIELD: found}) for e in envelopes)


def _store_messages(
    uow: NotifyUnitOfWork,
    planned: list[tuple[str, datetime, domain.Message]],
    now: datetime,
    policy: domain.DeliveryPolicy,
) -> int:
    """Each message as a notification (its words made now), delivered in-app at once and queued
    on every outside channel of the people who read that inbox: once per person and event, even
    when the event reaches them through several inboxes (their own and their org's)."""
    if not planned:
        return 0
    people = uow.preferences.of_recipients({message.recipient for _, _, message in planned})
    taken = uow.actions.taken({m.ref for _, _, m in planned if m.ref is not None and m.action})
    reached: set[tuple[str, str, str]] = set()
    notifications: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for event_id, event_at, message in planned:
        notification = _notification_row(event_id, event_at, message, render_message(message, policy.zone), now)
        if message.action and message.ref and _already_taken(taken, message.ref, message.action, event_at):
            notification["resolved_at"] = now
        notifications.append(notification)
        base = {
            "event_id": event_id,
            "notification_id": notification["id"],
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
            for delivery in _outside_deliveries(base, preference, message.urgent, now, policy):
                key = (event_id, delivery["person"], delivery["channel"])
                if key not in reached:
                    reached.add(key)
                    deliveries.append(delivery)
    uow.notifications.add_all(notifications)
    uow.deliveries.add_all(deliveries)
    return len(notifications)


def _already_taken(
    taken: dict[tuple[str, str, str], datetime], ref: domain.Ref, action: str, event_at: datetime
) -> bool:
    """Whether a later event already took the action (a notice that arrives after its answer)."""
    return any(
        (at := taken.get((ref.type, ref.id, key))) is not None and at > event_at for key in (action, domain.ANY)
    )


def _notification_row(
    event_id: str, event_at: datetime, message: domain.Message, rendered: RenderedMessage, now: datetime
) -> dict[str, Any]:
    title_en, body_en = rendered.text("en")
    return {
        "id": new_id(),
        "event_id": event_id,
        "type": message.template.split("/", 1)[0],
        "recipient_kind": message.recipient.kind,
        "recipient": message.recipient.id,
        "title": rendered.title[:300],
        "body": rendered.body,
        "title_en": title_en[:300],
        "body_en": body_en,
        "urgent": message.urgent,
        "created_at": now,
        "link": message.link,
        "ref_type": message.ref.type if message.ref else None,
        "ref_id": message.ref.id if message.ref else None,
        "action": message.action,
        "action_required": message.action_required,
        "resolved_at": None,
        "event_at": event_at,
    }


def _outside_deliveries(
    base: dict[str, Any], preference: Preference, urgent: bool, now: datetime, policy: domain.DeliveryPolicy
) -> list[dict[str, Any]]:
    """One queued delivery per channel the person chose, held until their quiet hours end."""
    held = None
    if not urgent and preference.quiet_start:
        held = domain.quiet_until(now, preference.quiet_start, preference.quiet_end, policy.zone)
    return [
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
        for channel, address in domain.planned_channels(reach_of(preference))
    ]


# --- the inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkRead:
    notification_id: str


@dataclass(frozen=True)
class MarkAllRead:
    pass


@dataclass(frozen=True)
class Marked:
    marked: int

    @property
    def updated(self) -> int:
        return self.marked


def mark_read(uow: NotifyUnitOfWork, actor: domain.Reader, command: MarkRead) -> NotificationView:
    """Mark one of the caller's notifications read; another's is as good as absent (404)."""
    with uow:
        notification = uow.notifications.get(command.notification_id)
        if notification is None or not domain.addressed_to(
            actor, domain.Recipient(notification.recipient_kind, notification.recipient)
        ):
            raise NotFound(f"notification {command.notification_id} does not exist")
        if notification.read_at is None:
            notification.read_at = utcnow()
        view = NotificationView.of(notification, uow.preferences.locale_of(actor.sub))
        uow.commit()
        return view


def mark_all_read(uow: NotifyUnitOfWork, actor: domain.Reader, command: MarkAllRead) -> Marked:
    with uow:
        marked = uow.notifications.mark_all_read(domain.inboxes_of(actor), utcnow())
        uow.commit()
        return Marked(marked)


# --- preferences ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdatePreferences:
    preferences: domain.Preferences


def update_preferences(
    uow: NotifyUnitOfWork, actor: domain.Reader, command: UpdatePreferences, guard: WebhookGuard
) -> domain.Preferences:
    """Replace the caller's preferences, remembering the role and org of their token (org-addressed
    messages go out on the channels of that org's people). A webhook URL must reach a public
    address (`guard`); a new one gets a new signing secret, shown in this answer only."""
    wanted = command.preferences
    # A member's SMS goes to the phone they registered, read when it is sent: none is kept here.
    is_member = actor.role == "member"
    if is_member:
        wanted = replace(wanted, phone=None)
    domain.check_preferences(wanted, has_registered_phone=is_member)
    guard.check_saved(wanted.webhook_url)
    with uow:
        preference = uow.preferences.get(actor.sub)
        if preference is None:
            preference = Preference(sub=actor.sub)
            uow.preferences.add(preference)
        preference.role = actor.role
        preference.org = actor.org
        preference.inapp = wanted.channels.inapp
        preference.sms = wanted.channels.sms
        preference.email = wanted.channels.email
        preference.webhook = wanted.channels.webhook
        preference.quiet_start = wanted.quiet_hours.start if wanted.quiet_hours else None
        preference.quiet_end = wanted.quiet_hours.end if wanted.quiet_hours else None
        preference.locale = wanted.locale
        preference.email_address = wanted.email
        preference.phone = wanted.phone
        preference.webhook_secret, made = subscriber_secret(preference, wanted.webhook_url)
        preference.webhook_url = wanted.webhook_url
        preference.updated_at = utcnow()
        saved = replace(preferences_of(preference), webhook_secret=made)
        uow.commit()
        return saved


# --- deliveries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimDue:
    limit: int = 50
    now: datetime | None = None


def claim_due(uow: NotifyUnitOfWork, command: ClaimDue) -> list[OutgoingMessage]:
    """Lease due deliveries to this dispatcher, each with its text in the person's locale."""
    now = command.now or utcnow()
    with uow:
        claimed = uow.deliveries.claim_due(command.limit, now, now + CLAIM_LEASE)
        # A webhook is signed with its subscriber's own secret.
        hooks = {d.person: uow.preferences.get(d.person) for d, _ in claimed if d.channel == "webhook"}
        secrets = {sub: row.webhook_secret for sub, row in hooks.items() if row is not None}
        uow.commit()
    return [
        OutgoingMessage(
            delivery.id,
            delivery.event_id,
            delivery.channel,
            delivery.address,
            *notification.text(delivery.locale),
            delivery.status,
            delivery.attempts,
            secrets.get(delivery.person) if delivery.channel == "webhook" else None,
            notification.type,
        )
        for delivery, notification in claimed
    ]


@dataclass(frozen=True)
class RecordAttempt:
    delivery_id: str
    error: str | None  # None: sent
    permanent: bool = False  # the channel refused for good: no retry


def record_attempt(
    uow: NotifyUnitOfWork, command: RecordAttempt, policy: domain.DeliveryPolicy = DEFAULT_POLICY
) -> str:
    """Apply one attempt's outcome to a claimed delivery; returns its new status."""
    error = command.error
    with uow:
        delivery = uow.deliveries.get(command.delivery_id)
        if delivery is None:
            raise NotFound(f"delivery {command.delivery_id} does not exist")
        if delivery.status not in domain.DUE:
            return delivery.status  # settled meanwhile (e.g. an expired lease reclaimed it)
        outcome = domain.after_attempt(
            delivery.status,
            delivery.attempts,
            error,
            command.permanent,
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
                uow, delivery.person, delivery.urgent, now + outcome.retry_in, policy.zone
            )
        uow.commit()
        return outcome.status


def _not_in_quiet_hours(
    uow: NotifyUnitOfWork, person: str, urgent: bool, moment: datetime, zone: str
) -> datetime:
    """`moment`, or the end of the person's quiet hours if it falls inside them (unless urgent)."""
    if urgent:
        return moment
    preference = uow.preferences.get(person)
    if preference is None or not preference.quiet_start:
        return moment
    return domain.quiet_until(moment, preference.quiet_start, preference.quiet_end, zone) or moment


@dataclass(frozen=True)
class SettleFailed:
    limit: int = 100


def settle_failed(
    uow: NotifyUnitOfWork, command: SettleFailed, policy: domain.DeliveryPolicy = DEFAULT_POLICY
) -> int:
    """Queue the fallback channel of each failed delivery and mark it dead. Returns how many."""
    with uow:
        failed = uow.deliveries.failed(command.limit)
        now = utcnow()
        for delivery in failed:
            preference = uow.preferences.get(delivery.person)
            tried = uow.deliveries.channels_tried(delivery.notification_id, delivery.person)
            fallback = (
                domain.fallback_channel(delivery.channel, reach_of(preference), tried)
                if preference
                else None
            )
            if fallback:
                channel, address = fallback
                uow.deliveries.add(
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
                            uow, delivery.person, delivery.urgent, now, policy.zone
                        ),
                        fallback_for=delivery.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
            delivery.status = domain.settle_failed(delivery.status)
            delivery.updated_at = now
        uow.commit()
        return len(failed)


# --- the daily digest -----------------------------------------------------------------------


@dataclass(frozen=True)
class SendDigests:
    day: date | None = None  # default: today on the readers' clock


@dataclass(frozen=True)
class DigestRun:
    date: date
    digests: int  # how many were sent


def send_digests(
    uow: NotifyUnitOfWork,
    command: SendDigests,
    policy: domain.DeliveryPolicy = DEFAULT_POLICY,
    names: Names | None = None,
) -> DigestRun:
    """One digest per org with something waiting, at most once per org and day, naming the org."""
    now = utcnow()
    day = command.day or domain.in_zone(now, policy.zone).date()
    with uow:
        by_org = uow.todos.by_org()
        # Once a day, and names are cached: looked up within the transaction.
        org_names = (names or NoNames()).org_names(sorted(by_org)) if by_org else {}
        event_ids = {org_code: f"digest-{day.isoformat()}-{org_code}" for org_code in by_org}
        done = uow.notifications.event_ids_among(list(event_ids.values()))
        planned = [
            (event_ids[org_code], now, domain.digest_message(org_code, todos, org_names.get(org_code)))
            for org_code, todos in by_org.items()
            if event_ids[org_code] not in done
        ]
        sent = _store_messages(uow, planned, now, policy)
        uow.commit()
        return DigestRun(day, sent)
