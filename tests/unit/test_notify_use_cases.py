"""Notify's use cases on a fake unit of work (in-memory repositories, no database): who gets a
notification and on which channels, quiet hours, reading only one's own inbox, preference rules,
retries and fallbacks, and the once-a-day digest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.notify import commands, domain
from services.notify.models import Delivery, Notification, Preference
from services.notify.webhook_address import WebhookGuard
from shared.auth import ORG_ROLES, Principal
from shared.db import utcnow
from shared.errors import InvalidInput, NotFound
from shared.events import Envelope, make_envelope
from shared.uow import UnitOfWork
from tests.support.notify_events import samples

# --- the fake unit of work ------------------------------------------------------------------


class FakeInbox:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_deliveries(self, envelopes: Sequence[Envelope], now: datetime) -> list[Envelope]:
        fresh = []
        for envelope in envelopes:
            if envelope.id not in self.seen:
                self.seen.add(envelope.id)
                fresh.append(envelope)
        return fresh


class FakeNotifications:
    def __init__(self) -> None:
        self.rows: dict[str, Notification] = {}

    def add_all(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.rows[row["id"]] = Notification(**row, read_at=None)

    def get(self, notification_id: str) -> Notification | None:
        return self.rows.get(notification_id)

    def mark_all_read(self, inboxes: list[domain.Recipient], now: datetime) -> int:
        unread = [
            n
            for n in self.rows.values()
            if domain.Recipient(n.recipient_kind, n.recipient) in inboxes and n.read_at is None
        ]
        for notification in unread:
            notification.read_at = now
        return len(unread)

    def event_ids_among(self, event_ids: list[str]) -> set[str]:
        return {n.event_id for n in self.rows.values()} & set(event_ids)

    def resolve_all(self, resolutions: list[tuple[domain.Resolution, datetime]], now: datetime) -> int:
        return sum(self._resolve(resolution, before, now) for resolution, before in resolutions)

    def _resolve(self, resolution: domain.Resolution, before: datetime, now: datetime) -> int:
        open_ones = [
            n
            for n in self.rows.values()
            if (n.ref_type, n.ref_id) == (resolution.ref.type, resolution.ref.id)
            and n.action_required
            and n.resolved_at is None
            and n.event_at is not None
            and n.event_at < before
            and resolution.action in (domain.ANY, n.action)
        ]
        for notification in open_ones:
            notification.resolved_at = now
        return len(open_ones)


class FakeActions:
    def __init__(self) -> None:
        self.taken_at: dict[tuple[str, str, str], datetime] = {}

    def take_all(self, resolutions: list[tuple[domain.Resolution, datetime]], now: datetime) -> None:
        keys = [(r.ref.type, r.ref.id, r.action) for r, _event_at in resolutions]
        assert len(set(keys)) == len(keys), "one statement cannot update a row twice"
        for key, (_resolution, event_at) in zip(keys, resolutions, strict=True):
            self.taken_at[key] = max(event_at, self.taken_at.get(key, event_at))

    def taken(self, refs: set[domain.Ref]) -> dict[tuple[str, str, str], datetime]:
        return {k: v for k, v in self.taken_at.items() if domain.Ref(k[0], k[1]) in refs}


class FakeDeliveries:
    def __init__(self, notifications: FakeNotifications) -> None:
        self.rows: dict[str, Delivery] = {}
        self.notifications = notifications

    def add_all(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.add(Delivery(**row))

    def add(self, delivery: Delivery) -> None:
        self.rows[delivery.id] = delivery

    def get(self, delivery_id: str) -> Delivery | None:
        return self.rows.get(delivery_id)

    def claim_due(self, limit: int, now: datetime, until: datetime) -> list[tuple[Delivery, Notification]]:
        due = [
            d
            for d in self.rows.values()
            if d.status in domain.DUE
            and d.next_attempt_at <= now
            and (d.claimed_until is None or d.claimed_until < now)
        ][:limit]
        for delivery in due:
            delivery.claimed_until = until
        return [(d, self.notifications.rows[d.notification_id]) for d in due]

    def failed(self, limit: int) -> list[Delivery]:
        return sorted((d for d in self.rows.values() if d.status == domain.FAILED), key=lambda d: d.id)[
            :limit
        ]

    def channels_tried(self, notification_id: str, person: str) -> set[str]:
        return {
            d.channel
            for d in self.rows.values()
            if (d.notification_id, d.person) == (notification_id, person)
        }

    def of(self, notification_id: str) -> list[Delivery]:
        return [d for d in self.rows.values() if d.notification_id == notification_id]


class FakePreferences:
    def __init__(self) -> None:
        self.rows: dict[str, Preference] = {}

    def get(self, sub: str) -> Preference | None:
        return self.rows.get(sub)

    def add(self, preference: Preference) -> None:
        self.rows[preference.sub] = preference

    def locale_of(self, sub: str) -> str:
        row = self.rows.get(sub)
        return row.locale if row else domain.DEFAULT_LOCALE

    def of_recipients(self, recipients: set[domain.Recipient]) -> dict[domain.Recipient, list[Preference]]:
        found: dict[domain.Recipient, list[Preference]] = {}
        for row in self.rows.values():
            if domain.Recipient("member", row.sub) in recipients:
                found.setdefault(domain.Recipient("member", row.sub), []).append(row)
            if row.role in ORG_ROLES and domain.Recipient("org", row.org) in recipients:
                found.setdefault(domain.Recipient("org", row.org), []).append(row)
        return found


class FakeTodos:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, str, str | None]] = {}  # (kind, ref) → (org, label, due)
        self.versions: dict[tuple[str, str], domain.TodoVersion] = {}

    def apply(self, change: domain.TodoChange, now: datetime) -> bool:
        key = (change.kind, change.ref_id)
        if not domain.supersedes(change, self.versions.get(key)):
            return False
        self.versions[key] = change.version
        self.rows.pop(key, None)
        if change.add:
            self.rows[key] = change.add
        return True

    def by_org(self) -> dict[str, list[tuple[str, str, str | None]]]:
        found: dict[str, list[tuple[str, str, str | None]]] = {}
        for (kind, _ref), (org_code, label, due) in sorted(self.rows.items()):
            found.setdefault(org_code, []).append((kind, label, due))
        return found


class FakeNotifyUnitOfWork(UnitOfWork):
    """The repositories of NotifyUnitOfWork in memory; `commits` counts the commits."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox = FakeInbox()
        self.notifications = FakeNotifications()
        self.deliveries = FakeDeliveries(self.notifications)
        self.preferences = FakePreferences()
        self.todos = FakeTodos()
        self.actions = FakeActions()
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1
        super().commit()


@pytest.fixture
def uow() -> FakeNotifyUnitOfWork:
    return FakeNotifyUnitOfWork()


def principal(sub: str, role: str = "member", org: str = "B-1") -> Principal:
    return Principal(sub=sub, role=role, org=org)


def save_preferences(uow: FakeNotifyUnitOfWork, who: Principal, **fields: Any) -> domain.Preferences:
    # Every webhook host here resolves to a public address (the guard's lookup is a seam).
    guard = WebhookGuard(allow_http=True, resolver=lambda _host, _port: ["93.184.216.34"])
    return commands.update_preferences(
        uow, who, commands.UpdatePreferences(domain.Preferences(**fields)), guard
    )


def handle(uow: FakeNotifyUnitOfWork, *envelopes: Envelope) -> int:
    return commands.handle_events(uow, commands.HandleEvents(envelopes))  # type: ignore[arg-type]


def event(event_type: str) -> tuple[Envelope, dict[str, Any], set[str]]:
    data, expected = samples()[event_type]
    return make_envelope(event_type, "test", "s", data), data, expected


CHECKED_IN = "registration.member_checked_in.v1"

# --- events → notifications and deliveries --------------------------------------------------


def test_an_event_makes_one_notification_per_recipient_and_a_delivery_per_chosen_channel(uow):
    envelope, data, expected = event(CHECKED_IN)
    secretary = principal("sec-1", "branch_secretary", data["branch_code"])
    save_preferences(
        uow,
        secretary,
        channels=domain.Channels(email=True, sms=True),
        email="sec@example.org",
        phone="13800000000",
        locale="en",
    )
    save_preferences(
        uow,
        principal("bystander", "branch_secretary", "ELSEWHERE"),
        channels=domain.Channels(email=True),
        email="b@example.org",
    )
    save_preferences(
        uow,
        principal("member-of-b", "member", data["branch_code"]),
        channels=domain.Channels(sms=True),
        phone="13900000000",
    )

    assert handle(uow, envelope) == len(expected) == 2
    notifications = list(uow.notifications.rows.values())
    assert {f"{n.recipient_kind}:{n.recipient}" for n in notifications} == expected
    branch = next(n for n in notifications if n.recipient == data["branch_code"])
    assert "王芳" in branch.title and "checked in" in branch.title_en  # its words made as it is stored
    by_channel = {(d.channel, d.person, d.address, d.locale) for d in uow.deliveries.of(branch.id)}
    assert by_channel == {
        ("inapp", f"org:{data['branch_code']}", None, "zh-CN"),
        ("email", "sec-1", "sec@example.org", "en"),
        ("sms", "sec-1", "13800000000", "en"),
    }
    assert {d.status for d in uow.deliveries.of(branch.id) if d.channel != "inapp"} == {"queued"}
    home = next(n for n in notifications if n.recipient != data["branch_code"])
    assert [d.channel for d in uow.deliveries.of(home.id)] == ["inapp"]  # nobody there chose a channel
    assert uow.events == [] and uow.audits == []


def test_an_event_seen_before_adds_nothing(uow):
    envelope, _, expected = event(CHECKED_IN)
    assert handle(uow, envelope, envelope) == len(expected)  # twice in one batch: once
    commits = uow.commits
    assert handle(uow, envelope) == 0  # redelivered later
    assert len(uow.notifications.rows) == len(expected) and uow.commits == commits


def test_quiet_hours_hold_outside_channels_but_not_urgent_notices(uow):
    local = utcnow() + timedelta(hours=8)  # the readers' clock: China time
    start, end = (
        (local - timedelta(hours=1)).strftime("%H:%M"),
        (local + timedelta(hours=2)).strftime("%H:%M"),
    )
    quiet = domain.QuietHours(start, end)
    routine, data, _ = event("transfer.stage_reminder.v1")
    overdue, _, _ = event("transfer.stage_overdue.v1")
    overdue.data["stage_org_code"] = data["stage_org_code"]
    officer = principal("off-1", "township_officer", data["stage_org_code"])
    save_preferences(
        uow, officer, channels=domain.Channels(email=True), email="o@example.org", quiet_hours=quiet
    )

    handle(uow, routine, overdue)

    mails = {d.event_id: d for d in uow.deliveries.rows.values() if d.channel == "email"}
    held = mails[routine.id].next_attempt_at
    assert held >= utcnow() + timedelta(hours=1, minutes=55)  # the end of the quiet hours
    assert domain.quiet_until(held, start, end, domain.DEFAULT_POLICY.zone) is None
    assert mails[overdue.id].next_attempt_at <= utcnow()  # urgent: goes now


def test_the_digest_goes_to_each_org_with_work_waiting_once_a_day(uow):
    waiting, data, _ = event("transfer.stage_decided.v1")
    handle(uow, waiting)
    day = date(2026, 12, 7)
    first = commands.send_digests(uow, commands.SendDigests(day))
    assert (first.date, first.digests) == (day, 1)
    digest = next(n for n in uow.notifications.rows.values() if n.type == domain.DIGEST_TYPE)
    assert digest.recipient == data["stage_org_code"] and data["member_name"] in digest.body
    assert commands.send_digests(uow, commands.SendDigests(day)).digests == 0
    assert commands.send_digests(uow, commands.SendDigests(day + timedelta(days=1))).digests == 1


# --- reading one's own inbox ----------------------------------------------------------------


def notification_to(uow: FakeNotifyUnitOfWork, recipient: str) -> str:
    return next(
        n.id for n in uow.notifications.rows.values() if f"{n.recipient_kind}:{n.recipient}" == recipient
    )


def test_reading_a_notification_addressed_to_someone_else_is_refused(uow):
    envelope, data, _ = event("registration.outflow_registered.v1")
    handle(uow, envelope)
    to_member = notification_to(uow, f"member:{data['member_id']}")
    to_branch = notification_to(uow, f"org:{data['branch_code']}")
    commits = uow.commits
    for stranger, notification_id in [
        (principal("someone-else"), to_member),
        (principal("sec-1", "branch_secretary", data["branch_code"]), to_member),  # the member's own branch
        (principal("admin", "admin", "CN"), to_member),
        (
            principal(data["member_id"], "member", data["branch_code"]),
            to_branch,
        ),  # a member is not the branch
    ]:
        with pytest.raises(NotFound):
            commands.mark_read(uow, stranger, commands.MarkRead(notification_id))
    assert uow.notifications.rows[to_member].read_at is None and uow.commits == commits

    view = commands.mark_read(uow, principal(data["member_id"]), commands.MarkRead(to_member))
    assert view.id == to_member and view.read_at is not None
    secretary = principal("sec-1", "branch_secretary", data["branch_code"])
    assert commands.mark_read(uow, secretary, commands.MarkRead(to_branch)).read_at is not None


def test_read_all_marks_only_the_callers_inboxes(uow):
    envelope, data, expected = event("registration.outflow_registered.v1")
    handle(uow, envelope)
    secretary = principal("sec-1", "branch_secretary", data["branch_code"])
    assert commands.mark_all_read(uow, secretary, commands.MarkAllRead()).marked == 1  # the branch's
    assert commands.mark_all_read(uow, secretary, commands.MarkAllRead()).marked == 0
    unread = {
        f"{n.recipient_kind}:{n.recipient}" for n in uow.notifications.rows.values() if n.read_at is None
    }
    assert unread == expected - {f"org:{data['branch_code']}"}


def test_a_notification_is_read_in_the_readers_locale(uow):
    envelope, data, _ = event(CHECKED_IN)
    handle(uow, envelope)
    secretary = principal("sec-1", "branch_secretary", data["branch_code"])
    save_preferences(uow, secretary, locale="en")
    view = commands.mark_read(
        uow, secretary, commands.MarkRead(notification_to(uow, f"org:{data['branch_code']}"))
    )
    assert "checked in" in view.title


# --- preferences ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quiet", "field"),
    [
        (domain.QuietHours("22:00", "22:00"), "quiet_hours.end"),  # an empty window
        (domain.QuietHours("24:00", "07:00"), "quiet_hours.start"),
        (domain.QuietHours("22:00", "7:00"), "quiet_hours.end"),
    ],
)
def test_preferences_update_validates_quiet_hours(uow, quiet, field):
    with pytest.raises(InvalidInput) as refused:
        save_preferences(uow, principal("m-1"), quiet_hours=quiet)
    assert refused.value.field == field
    assert uow.preferences.rows == {} and uow.commits == 0


def test_a_chosen_channel_needs_an_address(uow):
    with pytest.raises(InvalidInput) as refused:
        save_preferences(uow, principal("m-1"), channels=domain.Channels(webhook=True))
    assert refused.value.field == "webhook_url" and uow.preferences.rows == {}


def test_preferences_are_saved_with_the_role_and_org_of_the_token(uow):
    wanted = dict(
        channels=domain.Channels(sms=True),
        phone="13800000000",
        quiet_hours=domain.QuietHours("22:00", "07:00"),
        locale="en",
    )
    saved = save_preferences(uow, principal("off-1", "township_officer", "T-1"), **wanted)
    assert saved == domain.Preferences(**wanted)
    row = uow.preferences.rows["off-1"]
    assert (row.role, row.org, row.quiet_start, row.quiet_end) == (
        "township_officer",
        "T-1",
        "22:00",
        "07:00",
    )


# --- delivery attempts and fallbacks --------------------------------------------------------


def test_a_failing_channel_retries_then_hands_over_to_the_fallback(uow):
    envelope, data, _ = event("transfer.letter_issued.v1")
    person = principal(data["member_id"], "member", data["from_branch_code"])
    save_preferences(
        uow, person, channels=domain.Channels(webhook=True), webhook_url="http://hook/", email="m@example.org"
    )
    handle(uow, envelope)
    policy = domain.DeliveryPolicy(max_attempts=2, retry_base=timedelta(0), retry_cap=timedelta(0))

    (hook,) = commands.claim_due(uow, commands.ClaimDue(now=utcnow() + timedelta(seconds=1)))
    assert (hook.channel, hook.address) == ("webhook", "http://hook/") and "王芳" in hook.body
    assert commands.record_attempt(uow, commands.RecordAttempt(hook.delivery_id, "500"), policy) == "retrying"
    assert commands.record_attempt(uow, commands.RecordAttempt(hook.delivery_id, "500"), policy) == "failed"
    assert commands.settle_failed(uow, commands.SettleFailed(), policy) == 1

    dead = uow.deliveries.rows[hook.delivery_id]
    (fallback,) = [d for d in uow.deliveries.rows.values() if d.fallback_for == dead.id]
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 2, "500")
    assert (fallback.channel, fallback.address, fallback.status) == ("email", "m@example.org", "queued")
    assert commands.record_attempt(uow, commands.RecordAttempt(fallback.id, None), policy) == "sent"
    assert commands.settle_failed(uow, commands.SettleFailed(), policy) == 0
