"""Notify's pure rules: routing of every event type, templates (rendered as the notification is
stored), quiet hours, the delivery state machine and fallback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notify import domain
from services.notify.rendering import LOCALES, RenderedMessage, render, render_message
from shared.events import make_envelope, registered_types
from tests.support.notify_events import samples


def envelope_of(event_type: str, data: dict) -> object:
    return make_envelope(event_type, "test", "s", data)


def messages_of(envelope: object) -> list[RenderedMessage]:
    """The event's messages with their words, as the consumer stores them."""
    return [render_message(message) for message in domain.messages_for(envelope)]


def test_every_event_type_of_the_system_has_a_route_and_a_sample():
    assert set(domain.ROUTES) == set(registered_types())
    assert set(samples()) == set(registered_types())


@pytest.mark.parametrize("event_type", sorted(samples()))
def test_each_event_reaches_exactly_the_right_recipients(event_type):
    data, expected = samples()[event_type]
    messages = messages_of(envelope_of(event_type, data))
    assert {str(m.recipient) for m in messages} == expected
    assert len(messages) == len(expected)  # each recipient once
    for message in messages:
        for locale in LOCALES:
            title, body = message.text(locale)
            assert title and body
            assert "—" not in title
            assert "{" not in title + body  # no placeholder left unfilled
        if "member_name" in data:
            assert data["member_name"] in message.body  # the text names who it is about


def test_checkin_text_names_the_member_branch_and_local_time():
    data, _ = samples()["registration.member_checked_in.v1"]
    (branch, _home) = messages_of(envelope_of("registration.member_checked_in.v1", data))
    assert branch.recipient == domain.Recipient("org", data["branch_code"])
    assert "王芳" in branch.title
    assert "11月5日 16:00" in branch.body  # 08:00 UTC read in Asia/Shanghai
    assert "checked in" in branch.text("en")[0]


def test_transfer_text_says_who_acts_by_when():
    data, _ = samples()["transfer.stage_decided.v1"]
    messages = messages_of(envelope_of("transfer.stage_decided.v1", data))
    stage = next(m for m in messages if m.recipient.kind == "org")
    assert "乡镇（街道）党委审批" in stage.body and "11月29日 18:00" in stage.body
    assert "township committee approval" in stage.text("en")[1]


def test_evaluation_tells_each_claimant_their_own_points():
    data, _ = samples()["tasks.task_evaluated.v1"]
    messages = messages_of(envelope_of("tasks.task_evaluated.v1", data))
    by_member = {m.recipient.id: m for m in messages if m.recipient.kind == "member"}
    lead, other = data["awards"][0], data["awards"][1]
    assert "10 积分" in by_member[lead["member_id"]].body
    assert "5 积分" in by_member[other["member_id"]].body


def test_overdue_and_expiry_notices_are_urgent_others_not():
    for event_type, (data, _) in samples().items():
        messages = messages_of(envelope_of(event_type, data))
        urgent = event_type in domain.URGENT
        assert all(m.urgent == urgent for m in messages), event_type
    assert "transfer.stage_overdue.v1" in domain.URGENT and "transfer.letter_expiring.v1" in domain.URGENT


def test_every_locale_a_person_may_choose_has_templates_for_every_route():
    assert set(LOCALES) == set(domain.LOCALES)
    for module in LOCALES.values():
        assert set(module.TEMPLATES) == set(LOCALES["zh-CN"].TEMPLATES)


def test_unknown_locale_falls_back_to_chinese():
    data, _ = samples()["registration.member_created.v1"]
    assert render("registration.member_created.v1/member", "fr", data) == render(
        "registration.member_created.v1/member", "zh-CN", data
    )


SHANGHAI_2200 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)  # 22:00 in Asia/Shanghai


@pytest.mark.parametrize(
    ("now", "start", "end", "expected"),
    [
        (SHANGHAI_2200, "22:00", "07:00", datetime(2026, 11, 22, 23, 0, tzinfo=UTC)),
        (SHANGHAI_2200 - timedelta(minutes=1), "22:00", "07:00", None),
        (
            SHANGHAI_2200 + timedelta(hours=8, minutes=59),
            "22:00",
            "07:00",
            datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
        ),
        (SHANGHAI_2200 + timedelta(hours=9), "22:00", "07:00", None),  # 07:00: quiet hours are over
        (SHANGHAI_2200 + timedelta(hours=3), "22:00", "07:00", datetime(2026, 11, 22, 23, 0, tzinfo=UTC)),
        (SHANGHAI_2200 - timedelta(hours=9), "12:00", "14:00", datetime(2026, 11, 22, 6, 0, tzinfo=UTC)),
        (SHANGHAI_2200, "12:00", "14:00", None),
        (SHANGHAI_2200, None, None, None),
    ],
)
def test_quiet_hours_hold_until_they_end(now, start, end, expected):
    assert domain.quiet_until(now, start, end, "Asia/Shanghai") == expected


def test_delivery_succeeds_retries_with_growing_backoff_then_fails():
    base, cap = timedelta(seconds=10), timedelta(seconds=100)
    assert domain.after_attempt("queued", 0, None, False, 3, base, cap) == domain.Outcome("sent", 1)
    first = domain.after_attempt("queued", 0, "timeout", False, 3, base, cap, jitter=lambda: 1.0)
    assert first == domain.Outcome("retrying", 1, timedelta(seconds=10))
    second = domain.after_attempt("retrying", 1, "timeout", False, 3, base, cap, jitter=lambda: 1.0)
    assert second == domain.Outcome("retrying", 2, timedelta(seconds=20))
    assert domain.after_attempt("retrying", 2, "timeout", False, 3, base, cap).status == "failed"
    assert domain.after_attempt("queued", 0, "400", True, 3, base, cap) == domain.Outcome("failed", 1)
    with pytest.raises(ValueError):
        domain.after_attempt("sent", 1, None, False, 3, base, cap)
    assert domain.settle_failed("failed") == "dead"
    with pytest.raises(ValueError):
        domain.settle_failed("retrying")


def test_backoff_has_jitter_and_a_cap():
    base, cap = timedelta(seconds=1), timedelta(seconds=60)
    assert domain.retry_delay(20, base, cap, jitter=lambda: 1.0) == timedelta(seconds=60)
    assert domain.retry_delay(20, base, cap, jitter=lambda: 0.0) == timedelta(seconds=30)
    delays = {domain.retry_delay(3, base, cap) for _ in range(20)}
    assert len(delays) > 1 and all(timedelta(seconds=2) <= d <= timedelta(seconds=4) for d in delays)


def test_fallback_takes_the_next_channel_with_an_address_not_yet_tried():
    person = {"email": "a@example.org", "phone": "13800000000", "webhook_url": None}
    assert domain.fallback_channel("webhook", person, {"webhook"}) == ("email", "a@example.org")
    assert domain.fallback_channel("webhook", person, {"webhook", "email"}) == ("sms", "13800000000")
    assert domain.fallback_channel("sms", person, {"sms", "email"}) is None


def test_planned_channels_need_both_consent_and_an_address():
    person = {
        "channels": {"email": True, "sms": True, "webhook": False},
        "email": "a@x.org",
        "phone": None,
        "webhook_url": "http://h/",
    }
    assert domain.planned_channels(person) == [("email", "a@x.org")]


def test_digest_lists_todo_transfers_and_overdue_tasks():
    message = render_message(
        domain.digest_message(
            "T-1", [("transfer", "王芳：B1 → B2", "2026-11-29"), ("task", "送餐", "2026-11-20")]
        )
    )
    assert message.recipient == domain.Recipient("org", "T-1")
    assert "1 件转接待审批" in message.title and "1 项任务超期" in message.title
    assert "王芳：B1 → B2" in message.body and "送餐" in message.body
    empty = render_message(domain.digest_message("T-1", [("task", "送餐", None)]))
    assert "无" in empty.body


def test_the_readers_zone_is_china_time_unless_settings_name_another():
    winter_night = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 06:30 the next morning in China
    assert domain.DeliveryPolicy().zone == "Asia/Shanghai"
    assert domain.in_zone(winter_night, domain.DeliveryPolicy().zone).strftime("%d %H:%M") == "08 06:30"
    assert domain.quiet_until(winter_night, "22:00", "07:00", "Asia/Shanghai") == datetime(
        2026, 12, 7, 23, 0, tzinfo=UTC
    )
    # NUANLIU_NOTIFY_TIMEZONE=Europe/London: the same quiet hours are London's nights.
    assert domain.quiet_until(winter_night, "22:00", "07:00", "Europe/London") == datetime(
        2026, 12, 8, 7, 0, tzinfo=UTC
    )
    data = {"member_name": "王芳", "branch_code": "B-1", "kind": "self", "occurred_at": winter_night.isoformat()}
    assert "12月8日 06:30" in render("registration.member_checked_in.v1/branch", "zh-CN", data)[1]
    london = render("registration.member_checked_in.v1/branch", "zh-CN", data, "Europe/London")
    assert "12月7日 22:30" in london[1]


def test_a_check_in_by_scan_names_the_station_to_the_home_branch():
    data, _ = samples()["registration.member_checked_in.v1"]
    scanned = {**data, "kind": "qr", "station_code": "ST-WQ-01", "station_name": "武清区流动党员之家",
               "home_branch_code": "HOME-01"}  # fmt: skip
    title, body = render("registration.member_checked_in.v1/home", "zh-CN", scanned)
    assert "扫码报到" in body and "武清区流动党员之家" in body and "qr" not in title + body
    assert "at 武清区流动党员之家" in render("registration.member_checked_in.v1/home", "en", scanned)[1]
    plain_title, plain_body = render("registration.member_checked_in.v1/home", "zh-CN", data)
    assert "（" not in plain_body  # no station, no brackets


def test_a_todo_change_supersedes_only_an_older_version():
    data = samples()["transfer.stage_decided.v1"][0]
    envelope = make_envelope("transfer.stage_decided.v1", "transfer", data["transfer_id"], data)
    change = domain.todo_change(envelope)
    assert change is not None and change.version == domain.TodoVersion(envelope.time, envelope.id)
    assert domain.supersedes(change, None)
    older = domain.TodoVersion(envelope.time - timedelta(seconds=1), "zzz")
    newer = domain.TodoVersion(envelope.time + timedelta(microseconds=1), "")
    assert domain.supersedes(change, older)
    assert not domain.supersedes(change, newer)
    assert not domain.supersedes(change, change.version)  # the same event twice: no change
    # Equal times: the event id decides, the same way on every replica.
    tie = replace(change.version, event_id=envelope.id + "0")
    assert not domain.supersedes(change, tie)
