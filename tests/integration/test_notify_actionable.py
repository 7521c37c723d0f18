"""Notices people can act on (issue 21) over HTTP on the real database: link and subject, a
todo resolved for all its recipients once anyone takes its action (even when the answer arrives
first), `read-all`, and one notice per fact and person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.notify import consumer as notify_events
from services.notify.app import create_app
from services.notify.models import Delivery, Notification
from shared.contracts import registration as reg
from shared.contracts import transfer as trf
from shared.events import Envelope, make_envelope
from tests.support.notify_events import samples
from tests.support.tokens import bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("notify")
    return create_app(settings_for("notify")).test_client()


@pytest.fixture(scope="module")
def database(migrated):
    return migrated("notify")


def at(envelope: Envelope, minutes: int) -> Envelope:
    """The envelope as if it happened `minutes` after a fixed moment (events carry their time)."""
    moment = datetime(2026, 12, 7, 2, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return Envelope(**{**envelope.__dict__, "time": moment})


def event(event_type: str, minutes: int, **data: Any) -> Envelope:
    return at(make_envelope(event_type, "test", "s", data), minutes)


def inbox(client, headers) -> list[dict[str, Any]]:
    return client.get("/api/v1/notifications?limit=100", headers=headers).get_json()["items"]


def test_a_todo_links_to_its_transfer_and_resolves_for_everyone_when_the_stage_is_decided(client, database):
    base, _ = samples()[trf.STAGE_OVERDUE]
    county = base["escalate_to_org_code"]
    town = base["stage_org_code"]
    overdue = event(trf.STAGE_OVERDUE, 0, **base)
    notify_events.handle_event(database, overdue)
    officer = bearer("township_officer", town, "officer-1")
    department = bearer("org_department", county, "dept-1")
    (mine,) = [n for n in inbox(client, officer) if n["event_id"] == overdue.id]
    (theirs,) = [n for n in inbox(client, department) if n["event_id"] == overdue.id]
    for notice in (mine, theirs):
        assert notice["link"] == f"/transfers/{base['transfer_id']}"
        assert notice["ref"] == {"type": "transfer", "id": base["transfer_id"]}
        assert notice["action_required"] is True and notice["resolved_at"] is None
    # The county acts for the overdue township (代办): both notices are resolved.
    decided = event(
        trf.STAGE_DECIDED,
        5,
        **{
            **base,
            "status": "pending_county",
            "stage": "county",
            "stage_org_code": county,
            "decided_stage": "township",
            "decided_org_code": town,
            "decision": "approve",
            "actor": "dept-1",
            "actor_name": "周部长",
            "actor_org_code": county,
            "acted_for_org_code": town,
            "acted_for_org_name": "杨村街道党工委",
        },
    )
    notify_events.handle_event(database, decided)
    for headers, event_id in ((officer, overdue.id), (department, overdue.id)):
        (notice,) = [n for n in inbox(client, headers) if n["event_id"] == event_id]
        assert notice["resolved_at"] is not None
    # The new todo of the county stays open; the township learns the county acted in its name.
    (todo,) = [n for n in inbox(client, department) if n["event_id"] == decided.id]
    assert todo["action_required"] is True and todo["resolved_at"] is None
    (told,) = [n for n in inbox(client, officer) if n["event_id"] == decided.id]
    assert told["action_required"] is False and "代" in told["title"] and "周部长" in told["body"]


def test_a_todo_whose_answer_arrived_first_is_stored_resolved_and_a_later_todo_stays_open(client, database):
    base, _ = samples()[trf.REQUESTED]
    branch = base["stage_org_code"]
    decided = event(
        trf.STAGE_DECIDED,
        10,
        **{**base, "status": "pending_township", "stage": "township", "stage_org_code": base["from_branch_code"]}
        | {"decided_stage": "sending_branch", "decided_org_code": branch, "decision": "approve", "actor": "s"},
    )
    requested = event(trf.REQUESTED, 0, **base)
    notify_events.handle_events(database, [decided])
    notify_events.handle_events(database, [requested])  # delivered late
    secretary = bearer("branch_secretary", branch, "sec-late")
    (late,) = [n for n in inbox(client, secretary) if n["event_id"] == requested.id]
    assert late["action_required"] is True and late["resolved_at"] is not None
    # After a return and a resubmission the same stage asks again: that todo is open.
    resubmitted = event(trf.RESUBMITTED, 20, **{**base, "reason": "补齐档案", "actor": base["member_id"]})
    notify_events.handle_event(database, resubmitted)
    (again,) = [n for n in inbox(client, secretary) if n["event_id"] == resubmitted.id]
    assert again["action_required"] is True and again["resolved_at"] is None


def test_a_member_notice_links_to_their_own_page_and_a_lost_contact_resolves_on_check_in(client, database):
    lost_data, _ = samples()[reg.MEMBER_LOST_CONTACT]
    lost = event(reg.MEMBER_LOST_CONTACT, 0, **lost_data)
    notify_events.handle_event(database, lost)
    secretary = bearer("branch_secretary", lost_data["branch_code"], "sec-lost")
    (notice,) = [n for n in inbox(client, secretary) if n["event_id"] == lost.id]
    assert notice["link"] == f"/members/{lost_data['member_id']}" and notice["action_required"] is True
    checkin_data, _ = samples()[reg.MEMBER_CHECKED_IN]
    checkin = event(reg.MEMBER_CHECKED_IN, 30, **{**checkin_data, "member_id": lost_data["member_id"]})
    notify_events.handle_event(database, checkin)
    (notice,) = [n for n in inbox(client, secretary) if n["event_id"] == lost.id]
    assert notice["resolved_at"] is not None
    dues_data, _ = samples()[reg.DUES_RECORDED]
    dues = event(reg.DUES_RECORDED, 0, **dues_data)
    notify_events.handle_event(database, dues)
    member = bearer("member", dues_data["branch_code"], dues_data["member_id"])
    (told,) = [n for n in inbox(client, member) if n["event_id"] == dues.id]
    assert told["link"] == "/me" and "36.00 元" in told["body"] and "2026年12月" in told["title"]


def test_read_all_answers_how_many_it_updated(client, database):
    data, _ = samples()[trf.COMPLETED]
    for minutes in (0, 1):
        notify_events.handle_event(database, event(trf.COMPLETED, minutes, **data))
    member = bearer("member", data["from_branch_code"], data["member_id"])
    answer = client.post("/api/v1/notifications/read-all", headers=member)
    assert answer.status_code == 200 and answer.get_json() == {"updated": 2}
    assert client.post("/api/v1/notifications/read-all", headers=member).get_json() == {"updated": 0}
    assert client.post("/api/v1/notifications/read-all").status_code == 401

def test_a_batch_of_check_ins_resolves_each_members_lost_contact_notice_once(client, database):
    """A batch is one statement for its takings: the same member twice in it, others once, and
    a member who did not check in keeps their notice open."""
    import secrets

    from services.notify.models import ActionTaken

    lost_data, _ = samples()[reg.MEMBER_LOST_CONTACT]
    checkin_data, _ = samples()[reg.MEMBER_CHECKED_IN]
    members = [f"m-batch-{secrets.token_hex(4)}" for _ in range(3)]
    lost = [event(reg.MEMBER_LOST_CONTACT, 0, **{**lost_data, "member_id": m}) for m in members]
    notify_events.handle_events(database, lost)
    checkins = [
        event(reg.MEMBER_CHECKED_IN, minutes, **{**checkin_data, "member_id": member})
        for member, minutes in ((members[0], 30), (members[0], 40), (members[1], 35))
    ]
    notify_events.handle_events(database, checkins)
    secretary = bearer("branch_secretary", lost_data["branch_code"], "sec-batch")
    resolved = {n["event_id"]: n["resolved_at"] is not None for n in inbox(client, secretary)}
    assert [resolved[e.id] for e in lost] == [True, True, False]
    with database.reader() as session:
        taken = dict(
            session.execute(
                select(ActionTaken.ref_id, ActionTaken.event_at).where(ActionTaken.ref_id.in_(members))
            ).all()
        )
    assert set(taken) == set(members[:2])
    assert taken[members[0]].replace(tzinfo=UTC) == checkins[1].time  # the latest of the two



def test_one_completion_tells_the_sending_branch_once(client, database):
    letter, _ = samples()[trf.LETTER_ISSUED]
    reported = event(trf.REPORTED_IN, 0, **{**letter, "actor": letter["member_id"]})
    moved = event(
        reg.RELATIONSHIP_MOVED,
        1,
        member_id=letter["member_id"],
        member_name=letter["member_name"],
        branch_code=letter["to_branch_code"],
        branch_path=[],
        transfer_id=letter["transfer_id"],
        from_branch_code=letter["from_branch_code"],
    )
    completed = event(trf.COMPLETED, 2, **{**letter, "status": "completed", "completed_at": "2026-12-07T02:02:00+00:00"})
    notify_events.handle_events(database, [reported, moved, completed])
    ids = {reported.id, moved.id, completed.id}
    secretary = bearer("branch_secretary", letter["from_branch_code"], "sec-from")
    assert [n["type"] for n in inbox(client, secretary) if n["event_id"] in ids] == ["transfer.completed.v1"]
    member = bearer("member", letter["from_branch_code"], letter["member_id"])
    assert [n["type"] for n in inbox(client, member) if n["event_id"] in ids] == ["transfer.completed.v1"]
    # The letter's "go and report in" is done for the member and the receiving branch.
    issued = event(trf.LETTER_ISSUED, -5, **letter)
    notify_events.handle_event(database, issued)
    (todo,) = [n for n in inbox(client, member) if n["event_id"] == issued.id]
    assert todo["action_required"] is True and todo["resolved_at"] is not None


def test_a_person_reached_through_two_inboxes_gets_one_delivery_per_channel(client, database):
    data, _ = samples()[trf.COMPLETED]
    # A secretary of the sending branch who is also the member (their member id is their sub).
    secretary = bearer("branch_secretary", data["from_branch_code"], data["member_id"])
    prefs = {"channels": {"email": True}, "email": "shuji@example.org"}
    assert client.put("/api/v1/preferences", json=prefs, headers=secretary).status_code == 200
    completed = event(trf.COMPLETED, 0, **data)
    notify_events.handle_event(database, completed)
    with database.reader() as session:
        inboxes = set(
            session.execute(
                select(Notification.recipient_kind, Notification.recipient).where(
                    Notification.event_id == completed.id
                )
            ).tuples()
        )
        mails = session.scalars(
            select(Delivery.id).where(
                Delivery.event_id == completed.id, Delivery.person == data["member_id"], Delivery.channel == "email"
            )
        ).all()
    assert inboxes >= {
        ("member", data["member_id"]),
        ("org", data["from_branch_code"]),
    }
    assert len(mails) == 1


def test_a_members_sms_uses_the_registered_phone_and_notify_keeps_none(client, database):
    member_data, _ = samples()[reg.MEMBER_CREATED]
    member = bearer("member", member_data["branch_code"], member_data["member_id"])
    saved = client.put(
        "/api/v1/preferences", json={"channels": {"sms": True}, "phone": "13811112222"}, headers=member
    )
    assert saved.status_code == 200 and saved.get_json()["phone"] is None
    dues = event(reg.DUES_RECORDED, 0, **samples()[reg.DUES_RECORDED][0] | {"member_id": member_data["member_id"]})
    notify_events.handle_event(database, dues)
    with database.reader() as session:
        addresses = session.scalars(
            select(Delivery.address).where(Delivery.event_id == dues.id, Delivery.channel == "sms")
        ).all()
    assert addresses == [f"member:{member_data['member_id']}"]
    # Staff have no registered phone: theirs is required with SMS.
    staff = bearer("branch_secretary", member_data["branch_code"], "sec-sms")
    refused = client.put("/api/v1/preferences", json={"channels": {"sms": True}}, headers=staff)
    assert refused.status_code == 422 and "phone" in str(refused.get_json())
