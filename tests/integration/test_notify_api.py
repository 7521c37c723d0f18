"""The notify API over HTTP (Flask test client) on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.notify import consumer as notify_events
from services.notify.app import create_app
from services.notify.models import Delivery
from shared.db import utcnow
from shared.events import make_envelope
from tests.support.notify_events import samples
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("notify")
    return create_app(settings_for("notify")).test_client()


@pytest.fixture(scope="module")
def database(migrated):
    return migrated("notify")


def emit(database, event_type: str, **changes: object):
    data, expected = samples()[event_type]
    data.update(changes)
    envelope = make_envelope(event_type, "test", "s", data)
    notify_events.handle_event(database, envelope)
    return envelope, data, expected


def test_inbox_for_member_and_org_roles(client, database):
    envelope, data, _ = emit(database, "transfer.letter_issued.v1")
    member = bearer("member", data["from_branch_code"], data["member_id"])
    secretary = bearer("branch_secretary", data["to_branch_code"], "sec-1")
    mine = client.get("/api/v1/notifications", headers=member).get_json()["items"]
    assert [n["event_id"] for n in mine] == [envelope.id]
    assert data["letter_number"] in mine[0]["body"] and mine[0]["read_at"] is None
    assert set(mine[0]) == {
        "id", "event_id", "type", "title", "body", "created_at", "read_at",
        "link", "ref", "action_required", "resolved_at",
    }  # fmt: skip
    assert mine[0]["link"] == f"/transfers/{data['transfer_id']}"
    assert mine[0]["ref"] == {"type": "transfer", "id": data["transfer_id"]}
    assert mine[0]["action_required"] is True and mine[0]["resolved_at"] is None  # go and report in
    theirs = client.get("/api/v1/notifications", headers=secretary).get_json()["items"]
    assert [n["event_id"] for n in theirs] == [envelope.id] and theirs[0]["id"] != mine[0]["id"]
    # A member of that same branch does not read the org's inbox.
    other = bearer("member", data["to_branch_code"], "someone-else")
    assert client.get("/api/v1/notifications", headers=other).get_json()["items"] == []


def test_unread_count_mark_read_and_filters(client, database):
    _, data, _ = emit(database, "tasks.task_overdue.v1")
    _, data2, _ = emit(
        database,
        "tasks.task_cancelled.v1",
        claimant_ids=data["claimant_ids"],
        lead_member_id=data["lead_member_id"],
    )
    member = bearer("member", "B", data["lead_member_id"])
    assert client.get("/api/v1/notifications/unread_count", headers=member).get_json() == {"unread": 2}
    first = client.get("/api/v1/notifications?unread=true", headers=member).get_json()["items"][0]
    read = client.post(f"/api/v1/notifications/{first['id']}/read", headers=member)
    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    again = client.post(f"/api/v1/notifications/{first['id']}/read", headers=member).get_json()
    assert again["read_at"] == read.get_json()["read_at"]  # reading twice keeps the first time
    assert client.get("/api/v1/notifications/unread_count", headers=member).get_json() == {"unread": 1}
    assert len(client.get("/api/v1/notifications?unread=false", headers=member).get_json()["items"]) == 1
    assert client.post("/api/v1/notifications/read_all", headers=member).get_json() == {"marked": 1}
    assert client.get("/api/v1/notifications/unread_count", headers=member).get_json() == {"unread": 0}


def test_someone_elses_notification_is_not_found(client, database):
    _, data, _ = emit(database, "transfer.completed.v1")
    notification = client.get(
        "/api/v1/notifications", headers=bearer("member", "B", data["member_id"])
    ).get_json()["items"][0]
    stranger = bearer("member", "B", "stranger")
    assert (
        client.post(f"/api/v1/notifications/{notification['id']}/read", headers=stranger).status_code == 404
    )
    assert client.post("/api/v1/notifications/nope/read", headers=stranger).status_code == 404


def test_pagination_and_bad_query(client, database):
    member_id = "pager-" + utcnow().strftime("%H%M%S%f")
    for _ in range(3):
        emit(database, "transfer.completed.v1", member_id=member_id)
    headers = bearer("member", "B", member_id)
    first = client.get("/api/v1/notifications?limit=2", headers=headers).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(
        f"/api/v1/notifications?limit=2&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    bad = client.get("/api/v1/notifications?limit=500", headers=headers)
    assert bad.status_code == 422 and "limit" in bad.get_json()["errors"]["query"]
    assert client.get("/api/v1/notifications?cursor=%%%", headers=headers).status_code == 422
    assert client.get("/api/v1/notifications").status_code == 401


def test_preferences_default_replace_and_validate(client):
    headers = bearer("branch_secretary", "B-PREF", "sec-pref")
    default = client.get("/api/v1/preferences", headers=headers).get_json()
    assert default["channels"] == {"inapp": True, "sms": False, "email": False, "webhook": False}
    assert default["locale"] == "zh-CN" and default["quiet_hours"] is None
    body = {
        "channels": {"inapp": True, "sms": True, "email": True, "webhook": False},
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "locale": "en",
        "email": "sec@example.org",
        "phone": "13800001111",
    }
    saved = client.put("/api/v1/preferences", json=body, headers=headers)
    assert saved.status_code == 200
    assert saved.get_json()["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert client.get("/api/v1/preferences", headers=headers).get_json() == saved.get_json()
    cases = [
        ({**body, "email": None}, "email"),
        ({**body, "quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
        ({**body, "quiet_hours": {"start": "07:00", "end": "07:00"}}, "quiet_hours"),
        ({**body, "locale": "fr"}, "locale"),
        ({**body, "extra": 1}, "extra"),
        ({**body, "channels": {"pigeon": True}}, "channels"),
        ({**body, "webhook_url": "ftp://x"}, "webhook_url"),
        ({k: v for k, v in body.items() if k != "channels"}, "channels"),
    ]
    for bad, field in cases:
        response = client.put("/api/v1/preferences", json=bad, headers=headers)
        assert response.status_code == 422, bad
        assert field in response.get_json()["errors"]["json"], (field, response.get_json())
    assert client.put("/api/v1/preferences", json=body).status_code == 401


def test_locale_preference_switches_the_inbox_to_english(client, database):
    _, data, _ = emit(database, "transfer.letter_expiring.v1")
    headers = bearer("member", "B", data["member_id"])
    chinese = client.get("/api/v1/notifications", headers=headers).get_json()["items"][0]
    assert "介绍信" in chinese["title"]
    client.put("/api/v1/preferences", json={"channels": {}, "locale": "en"}, headers=headers)
    english = client.get("/api/v1/notifications", headers=headers).get_json()["items"][0]
    assert english["id"] == chinese["id"] and "letter" in english["title"].lower()


def test_deliveries_follow_preferences_and_quiet_hours(client, database):
    data, _ = samples()["transfer.stage_reminder.v1"]
    town = data["stage_org_code"]
    # The officer is in quiet hours right now (a window around the present local time).
    now_local = utcnow() + timedelta(hours=8)
    start = (now_local - timedelta(hours=1)).strftime("%H:%M")
    end = (now_local + timedelta(hours=1)).strftime("%H:%M")
    officer = bearer("township_officer", town, f"officer-{town}")
    prefs = {"channels": {"sms": True}, "phone": "13900002222", "quiet_hours": {"start": start, "end": end}}
    assert client.put("/api/v1/preferences", json=prefs, headers=officer).status_code == 200
    reminder = make_envelope("transfer.stage_reminder.v1", "test", "s", data)
    notify_events.handle_event(database, reminder)
    overdue_data = {**data, "escalate_to_org_code": None}
    overdue = make_envelope("transfer.stage_overdue.v1", "test", "s", overdue_data)
    notify_events.handle_event(database, overdue)
    with database.reader() as session:
        held = session.scalars(
            select(Delivery).where(Delivery.event_id == reminder.id, Delivery.channel == "sms")
        ).one()
        urgent = session.scalars(
            select(Delivery).where(Delivery.event_id == overdue.id, Delivery.channel == "sms")
        ).one()
        assert held.status == "queued" and held.next_attempt_at > utcnow() + timedelta(minutes=50)
        # Overdue ignores quiet hours: due at once (a stack's dispatcher running beside may have sent it).
        assert urgent.created_at and urgent.status in ("queued", "sent")
        assert urgent.status == "sent" or urgent.next_attempt_at <= utcnow()
        assert held.person == f"officer-{town}" and held.address == "13900002222"

    listed = client.get(f"/api/v1/deliveries?event_id={reminder.id}", headers=ADMIN).get_json()["items"]
    assert {(d["channel"], d["status"], d["attempts"]) for d in listed} == {
        ("inapp", "sent", 1),
        ("sms", "queued", 0),
    }
    assert "address" not in listed[0]  # contact details stay out of listings
    service_token = bearer("service", "CN", "svc-transfer")
    assert client.get(f"/api/v1/deliveries?event_id={reminder.id}", headers=service_token).status_code == 200
    assert client.get("/api/v1/deliveries", headers=officer).status_code == 403
    assert client.get("/api/v1/deliveries?status=lost", headers=ADMIN).status_code == 422


def test_daily_digest_lists_what_waits_on_each_org_once_a_day(client, database):
    requested, _, _ = emit(database, "transfer.stage_reminder.v1")
    data = requested.data
    overdue, task, _ = emit(database, "tasks.task_overdue.v1")
    first = client.post("/api/v1/digests", json={"date": "2030-01-01"}, headers=ADMIN)
    assert first.status_code == 200 and first.get_json()["digests"] >= 2
    town = bearer("township_officer", data["stage_org_code"], "o")
    digest = next(
        n
        for n in client.get("/api/v1/notifications", headers=town).get_json()["items"]
        if n["type"] == "notify.digest"
    )
    assert data["member_name"] in digest["body"] and "1 件转接待审批" in digest["title"]
    task_town = bearer("township_officer", task["org_code"], "o2")
    task_digest = next(
        n
        for n in client.get("/api/v1/notifications", headers=task_town).get_json()["items"]
        if n["type"] == "notify.digest"
    )
    assert task["title"] in task_digest["body"]
    assert (
        client.post("/api/v1/digests", json={"date": "2030-01-01"}, headers=ADMIN).get_json()["digests"] == 0
    )
    # Once the transfer moves on, it leaves the township's list.
    emit(database, "transfer.completed.v1", transfer_id=data["transfer_id"])
    client.post("/api/v1/digests", json={"date": "2030-01-02"}, headers=ADMIN)
    later = [
        n
        for n in client.get("/api/v1/notifications", headers=town).get_json()["items"]
        if n["type"] == "notify.digest"
    ]
    assert len(later) == 1  # nothing waits on the township any more: no second digest
    assert client.post("/api/v1/digests", json={}, headers=town).status_code == 403
