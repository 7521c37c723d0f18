"""Repositories over one session: the inbox of seen events, notifications, deliveries,
preferences and what waits on orgs. They load and save; the use cases decide."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, and_, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.notify import domain
from services.notify.models import (
    ActionTaken,
    Delivery,
    Notification,
    OrgTodo,
    Preference,
    TodoVersionRow,
    inbox,
)
from shared.auth import ORG_ROLES
from shared.db import table_of
from shared.events import Envelope

CONSUMER = "notify"


def addressed_to(inboxes: Iterable[domain.Recipient]) -> ColumnElement[bool]:
    """SQL for "the notification is in one of these inboxes"."""
    return or_(
        *(and_(Notification.recipient_kind == box.kind, Notification.recipient == box.id) for box in inboxes)
    )


class InboxRepository:
    """Which events this consumer has handled: written in the transaction of their effect."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def first_deliveries(self, envelopes: Sequence[Envelope], now: datetime) -> list[Envelope]:
        """The envelopes not handled before (each once, in order), now recorded as handled.

        One query and one insert for the whole batch, not two per event: the consumer's path is
        hot. A concurrent duplicate fails on the inbox key at commit, rolling back the batch."""
        ids = list({e.id for e in envelopes})
        seen = set(
            self.session.scalars(
                select(inbox.c.event_id).where(inbox.c.consumer == CONSUMER, inbox.c.event_id.in_(ids))
            )
        )
        fresh: list[Envelope] = []
        for envelope in envelopes:
            if envelope.id not in seen:
                seen.add(envelope.id)
                fresh.append(envelope)
        if fresh:
            self.session.execute(
                inbox.insert(),
                [
                    {"consumer": CONSUMER, "event_id": e.id, "event_type": e.type, "processed_at": now}
                    for e in fresh
                ],
            )
        return fresh


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_all(self, rows: list[dict[str, Any]]) -> None:
        # Core inserts: a batch of events makes many rows and needs none of them back.
        self.session.execute(table_of(Notification).insert(), rows)

    def get(self, notification_id: str) -> Notification | None:
        return self.session.get(Notification, notification_id)

    def mark_all_read(self, inboxes: list[domain.Recipient], now: datetime) -> int:
        result = self.session.execute(
            update(Notification)
            .where(addressed_to(inboxes), Notification.read_at.is_(None))
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]

    def resolve_all(self, resolutions: Sequence[tuple[domain.Resolution, datetime]], now: datetime) -> None:
        """Resolve, for all recipients, the open notices asking for each resolution's action on
        its subject that stem from events before its time (a check-in resolves its member's
        contact notices, so a batch of check-ins has many): one prebuilt statement, executed for
        each resolution in one call (a statement built per batch was compiled per batch, its
        shape varying with the batch)."""
        if resolutions:
            self.session.execute(
                _RESOLVE,
                [
                    {
                        "of_type": resolution.ref.type,
                        "of_id": resolution.ref.id,
                        "before": before,
                        "any_action": resolution.action == domain.ANY,
                        "of_action": resolution.action,
                        "now": now,
                    }
                    for resolution, before in resolutions
                ],
            )

    def event_ids_among(self, event_ids: list[str]) -> set[str]:
        """Which of these event ids already have a notification."""
        return set(
            self.session.scalars(select(Notification.event_id).where(Notification.event_id.in_(event_ids)))
        )


class ActionRepository:
    """When each action on each subject was last taken (by event time)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def take_all(self, resolutions: Sequence[tuple[domain.Resolution, datetime]], now: datetime) -> None:
        """Record each action as taken by an event at its time, keeping the latest such event:
        one prebuilt upsert, executed for each (subject, action) in one call, in the order
        given, so concurrent batches lock rows alike."""
        if not resolutions:
            return
        dialect = self.session.get_bind().dialect.name
        self.session.execute(
            _TAKE[dialect],
            [
                {
                    "ref_type": resolution.ref.type,
                    "ref_id": resolution.ref.id,
                    "action": resolution.action,
                    "event_at": event_at,
                    "taken_at": now,
                }
                for resolution, event_at in resolutions
            ],
        )

    def taken(self, refs: set[domain.Ref]) -> dict[tuple[str, str, str], datetime]:
        """(ref type, ref id, action) → the latest event time it was taken, for these subjects."""
        if not refs:
            return {}
        rows = self.session.execute(
            select(ActionTaken.ref_type, ActionTaken.ref_id, ActionTaken.action, ActionTaken.event_at).where(
                tuple_(ActionTaken.ref_type, ActionTaken.ref_id).in_([(r.type, r.id) for r in refs])
            )
        ).all()
        return {(t, i, a): at for t, i, a, at in rows}


class DeliveryRepository:
    def __init__(self, session: Session, lock_rows: bool) -> None:
        self.session = session
        self.lock_rows = lock_rows  # FOR UPDATE SKIP LOCKED where the database has it (not SQLite)

    def add_all(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(table_of(Delivery).insert(), rows)

    def add(self, delivery: Delivery) -> None:
        self.session.add(delivery)

    def get(self, delivery_id: str) -> Delivery | None:
        return self.session.get(Delivery, delivery_id)

    def claim_due(self, limit: int, now: datetime, until: datetime) -> list[tuple[Delivery, Notification]]:
        """Lease up to `limit` due deliveries until `until`, with their notifications; concurrent
        dispatchers never share one (row locks skipped, and the lease re-checked in the UPDATE)."""
        due = and_(
            Delivery.status.in_(domain.DUE),
            Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        query = select(Delivery.id).where(due).order_by(Delivery.next_attempt_at).limit(limit)
        if self.lock_rows:
            query = query.with_for_update(skip_locked=True)
        ids = list(self.session.scalars(query))
        if not ids:
            return []
        self.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), due)
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        rows = self.session.execute(
            select(Delivery, Notification)
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Delivery.id.in_(ids))
        ).all()
        return [(delivery, notification) for delivery, notification in rows]

    def failed(self, limit: int) -> list[Delivery]:
        query = select(Delivery).where(Delivery.status == domain.FAILED).order_by(Delivery.id).limit(limit)
        return list(self.session.scalars(query))

    def channels_tried(self, notification_id: str, person: str) -> set[str]:
        return set(
            self.session.scalars(
                select(Delivery.channel).where(
                    Delivery.notification_id == notification_id, Delivery.person == person
                )
            )
        )


class PreferenceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, sub: str) -> Preference | None:
        return self.session.get(Preference, sub)

    def add(self, preference: Preference) -> None:
        self.session.add(preference)

    def locale_of(self, sub: str) -> str:
        return (
            self.session.scalar(select(Preference.locale).where(Preference.sub == sub))
            or domain.DEFAULT_LOCALE
        )

    def of_recipients(self, recipients: set[domain.Recipient]) -> dict[domain.Recipient, list[Preference]]:
        """Who reads each recipient's messages outside the app: the member, or the org's people."""
        members = {r.id for r in recipients if r.kind == "member"}
        orgs = {r.id for r in recipients if r.kind == "org"}
        if not members and not orgs:
            return {}
        conditions: list[ColumnElement[bool]] = []
        if members:
            conditions.append(Preference.sub.in_(members))
        if orgs:
            conditions.append(and_(Preference.org.in_(orgs), Preference.role.in_(ORG_ROLES)))
        found: dict[domain.Recipient, list[Preference]] = {}
        for preference in self.session.scalars(select(Preference).where(or_(*conditions))):
            if preference.sub in members:
                found.setdefault(domain.Recipient("member", preference.sub), []).append(preference)
            if preference.org in orgs and preference.role in ORG_ROLES:
                found.setdefault(domain.Recipient("org", preference.org), []).append(preference)
        return found


class TodoRepository:
    """What waits on orgs, for the daily digest."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(self, change: domain.TodoChange, now: datetime) -> bool:
        """Apply `change` unless a newer event already set this transfer's or task's to-do;
        returns whether it was applied."""
        if not self._claim_version(change):
            return False
        self.session.execute(
            delete(OrgTodo).where(OrgTodo.kind == change.kind, OrgTodo.ref_id == change.ref_id)
        )
        if change.add:
            org_code, label, due = change.add
            self.session.add(
                OrgTodo(
                    org_code=org_code,
                    kind=change.kind,
                    ref_id=change.ref_id,
                    label=label[:300],
                    due=due,
                    since=now,
                )
            )
        return True

    def _claim_version(self, change: domain.TodoChange) -> bool:
        """Record `change`'s version if it is newer than the stored one, in one statement.

        An upsert whose update only fires for a newer version: on PostgreSQL it locks the row, so
        concurrent consumers changing the same ref queue here and the later one compares against
        what the first committed (a plain read-then-write would let both win)."""
        table = TodoVersionRow.__table__
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(
            kind=change.kind,
            ref_id=change.ref_id,
            event_time=change.version.at,
            event_id=change.version.event_id,
        )
        newer = tuple_(table.c.event_time, table.c.event_id) < tuple_(
            statement.excluded.event_time, statement.excluded.event_id
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.kind, table.c.ref_id],
            set_={"event_time": statement.excluded.event_time, "event_id": statement.excluded.event_id},
            where=newer,
        ).returning(table.c.kind)
        return self.session.execute(statement).first() is not None

    def by_org(self) -> dict[str, list[tuple[str, str, str | None]]]:
        """(kind, label, due) of everything waiting, per org, oldest first within a kind."""
        rows = self.session.execute(
            select(OrgTodo.org_code, OrgTodo.kind, OrgTodo.label, OrgTodo.due).order_by(
                OrgTodo.org_code, OrgTodo.kind, OrgTodo.since
            )
        ).all()
        found: dict[str, list[tuple[str, str, str | None]]] = {}
        for org_code, kind, label, due in rows:
            found.setdefault(org_code, []).append((kind, label, due))
        return found


def reach_of(row: Preference) -> dict[str, Any]:
    """The addresses the channel rules read for a person: a member's SMS goes to the phone they
    registered, looked up at send time (`member:<id>`), never to one notify keeps; staff, who
    have no registered phone, give theirs in their preferences."""
    reach = preferences_of(row).as_mapping()
    if row.role == "member":
        # Only when they chose SMS: a registered phone is no consent to be texted as a fallback.
        reach["phone"] = domain.registered_phone(row.sub) if row.sms else None
    return reach


def preferences_of(row: Preference | None) -> domain.Preferences:
    """A stored preference as the domain's Preferences (the defaults when none is stored)."""
    if row is None:
        return domain.DEFAULT_PREFERENCES
    return domain.Preferences(
        channels=domain.Channels(inapp=row.inapp, sms=row.sms, email=row.email, webhook=row.webhook),
        quiet_hours=domain.QuietHours(row.quiet_start, row.quiet_end or "") if row.quiet_start else None,
        locale=row.locale,
        email=row.email_address,
        phone=row.phone,
        webhook_url=row.webhook_url,
    )


def _take_statement(dialect: Any) -> Any:
    table = table_of(ActionTaken)
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.ref_type, table.c.ref_id, table.c.action],
        set_={"event_at": statement.excluded.event_at, "taken_at": statement.excluded.taken_at},
        where=table.c.event_at < statement.excluded.event_at,
    )


# ActionRepository.take_all's upsert, per dialect.
_TAKE = {"postgresql": _take_statement(postgresql), "sqlite": _take_statement(sqlite)}


def _resolve_statement() -> Any:
    notifications = table_of(Notification)
    n = notifications.c
    return (
        update(notifications)
        .where(
            n.action_required.is_(True),
            n.resolved_at.is_(None),
            n.ref_type == bindparam("of_type"),
            n.ref_id == bindparam("of_id"),
            n.event_at < bindparam("before", type_=n.event_at.type),
            or_(bindparam("any_action", type_=Boolean()), n.action == bindparam("of_action")),
        )
        .values(resolved_at=bindparam("now", type_=n.resolved_at.type))
    )


# NotificationRepository.resolve_all's statement: one notice's subject and action at a time.
_RESOLVE = _resolve_statement()
