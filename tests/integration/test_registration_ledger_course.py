"""The ledger as secretaries keep it (issue 18, part B), over HTTP on the real database: search by
name and by ID number, masks that hold, contact attempts and the lost-contact course, the standing
decision, monthly coverage and its reminder, and the audit log reader."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.registration import commands
from services.registration.app import create_app
from services.registration.commands import course
from services.registration.models import Checkin, ContactAttempt, Member, audit_log, outbox
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.db import utcnow
from tests.support.builders import id_number, member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer

MEMBERS = "/api/v1/members"


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


@pytest.fixture(scope="module")
def database(migrated):
    return migrated("registration")


def new_member(client, branch: str, **overrides) -> dict:
    response = client.post(MEMBERS, json=member_body(branch, **overrides), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sibling_branch(client, codes: dict[str, str]) -> str:
    code = unique_code("BS")
    body = {"code": code, "name": "第二支部", "level": "branch", "parent_code": codes["township"]}
    assert client.post("/api/v1/orgs", json=body, headers=ADMIN).status_code == 201
    return code


def events(database, event_type: str, subject: str) -> list[dict]:
    with database.reader() as session:
        rows = session.execute(
            select(outbox.table.c.event_id, outbox.table.c.body)
            .where(outbox.table.c.event_type == event_type, outbox.table.c.subject == subject)
            .order_by(outbox.table.c.seq)
        ).all()
    return [{"id": event_id, **json.loads(body)["data"]} for event_id, body in rows]


def audits(database, object_id: str, action: str) -> list[dict]:
    with database.reader() as session:
        rows = session.execute(
            select(audit_log).where(audit_log.c.object_id == object_id, audit_log.c.action == action)
        ).all()
    return [dict(row._mapping) for row in rows]


def outflow(client, member_id: str) -> dict:
    body = {
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区",
        "occupation": "建筑工人",
        "departed_on": (date.today() - timedelta(days=3)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
    }
    response = client.post(f"{MEMBERS}/{member_id}/outflows", json=body, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- search -------------------------------------------------------------------------------------


def test_name_search_stays_within_the_callers_scope(client):
    codes = org_tree(client, ADMIN)
    other = sibling_branch(client, codes)
    tag = unique_code("Q")[-6:]
    mine = new_member(client, codes["branch"], name=f"张三丰{tag}")
    theirs = new_member(client, other, name=f"张三{tag}")
    new_member(client, codes["branch"], name=f"李四{tag}")

    secretary = bearer("branch_secretary", codes["branch"])
    found = client.get(f"{MEMBERS}?q=张三", headers=secretary)
    assert found.status_code == 200, found.get_json()
    assert [item["id"] for item in found.get_json()["items"]] == [mine["id"]]

    township = bearer("township_officer", codes["township"])
    both = client.get(f"{MEMBERS}?q=三{tag}", headers=township).get_json()["items"]
    assert {item["id"] for item in both} == {theirs["id"]}  # "三{tag}": 张三丰{tag} does not contain it
    wide = client.get(f"{MEMBERS}?q={tag}&org={codes['township']}", headers=township).get_json()["items"]
    assert len(wide) == 3
    # A wildcard in the text is a character, not a pattern.
    assert client.get(f"{MEMBERS}?q=%25", headers=township).get_json()["items"] == []
    assert client.get(f"{MEMBERS}?q=_", headers=township).get_json()["items"] == []
    too_long = client.get(f"{MEMBERS}?q={'长' * 51}", headers=township)
    assert too_long.status_code == 422 and "q" in too_long.get_json()["errors"]["query"]


def test_id_number_search_is_exact_keyed_and_audited(client, database, settings_for):
    codes = org_tree(client, ADMIN)
    # A number whose check character is X (searched for in lower case): find a fresh one.
    born = date(1988, 3, 9)
    area = unique_code("A")[-4:].translate(str.maketrans("ABCDEF", "123456"))
    number = next(
        first17 + "X"
        for serial in range(1000)
        if commands_check(first17 := f"12{area}{born:%Y%m%d}{serial:03d}") == "X"
    )
    member = new_member(client, codes["branch"], id_number=number, birth_date=born.isoformat())
    secretary = bearer("branch_secretary", codes["branch"], sub=unique_code("sec"))

    found = client.get(f"{MEMBERS}?id_number={number.lower()}", headers=secretary)
    assert found.status_code == 200, found.get_json()
    (item,) = found.get_json()["items"]
    assert item["id"] == member["id"]
    assert item["id_number"] != number and item["birth_date"] == "1988"  # still a masked list
    entries = audits(database, member["id"], "read_full")
    assert any(entry["detail"] == "search by id_number" for entry in entries)

    # Out of scope: nothing found, and nothing to tell that the number is registered.
    elsewhere = org_tree(client, ADMIN)
    stranger = bearer("branch_secretary", elsewhere["branch"])
    assert client.get(f"{MEMBERS}?id_number={number}", headers=stranger).get_json()["items"] == []
    for bad in ("12345", number + "1", "12010119880309123Y"):
        refused = client.get(f"{MEMBERS}?id_number={bad}", headers=secretary)
        assert refused.status_code == 422 and "id_number" in refused.get_json()["errors"]["query"]

    # The column holds the keyed HMAC of the normalized number, not the number.
    key = settings_for("registration").id_hash_key
    with database.reader() as session:
        stored = session.get(Member, member["id"]).id_number_hash
    assert stored == hmac.new(key.encode(), number.upper().encode(), hashlib.sha256).hexdigest()


def commands_check(first17: str) -> str:
    from services.registration.domain import id_check_digit

    return id_check_digit(first17)


def test_imported_members_are_found_by_id_number(client):
    codes = org_tree(client, ADMIN)
    number = id_number()
    header = "name,gender,birth_date,id_number,phone,status,branch_code,joined_on,dues_paid_through\n"
    row = f"王五,male,1990-05-17,{number},13700001111,full,{codes['branch']},2015-07-01,2026-10\n"
    response = client.post(
        f"/api/v1/imports/members?branch={codes['branch']}",
        data={"file": (__import__("io").BytesIO((header + row).encode()), "members.csv")},
        headers=ADMIN,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    found = client.get(f"{MEMBERS}?id_number={number}", headers=ADMIN).get_json()["items"]
    assert [item["name"] for item in found] == ["王五"]


# --- masks --------------------------------------------------------------------------------------


def test_wherever_the_id_is_masked_the_birth_date_is_its_year(client):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    peer = new_member(client, codes["branch"])
    secretary = bearer("branch_secretary", codes["branch"])
    masked = [
        *client.get(f"{MEMBERS}?branch={codes['branch']}", headers=secretary).get_json()["items"],
        client.get(f"{MEMBERS}/{member['id']}?masked=true", headers=secretary).get_json(),
        client.get(f"{MEMBERS}/{member['id']}", headers=bearer("member", codes["branch"], sub=peer["id"])).get_json(),
    ]
    for record in masked:
        assert "*" in record["id_number"], record
        assert record["birth_date"] == "1990", record
    full = client.get(f"{MEMBERS}/{member['id']}", headers=secretary).get_json()
    assert "*" not in full["id_number"] and full["birth_date"] == "1990-05-17"


# --- contact attempts and the lost-contact course ----------------------------------------------


def test_contact_attempts_scope_events_and_contact(client, database):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    url = f"{MEMBERS}/{member['id']}/contact-attempts"
    with database.transaction() as session:
        row = session.get(Member, member["id"])
        row.lost_contact, row.lost_contact_since = True, date.today() - timedelta(days=10)
        row.last_contact_at = utcnow() - timedelta(days=400)

    secretary = bearer("branch_secretary", codes["branch"], sub="sec-1", name="王书记")
    failed = client.post(url, json={"method": "phone", "result": "not_reached", "note": "关机"}, headers=secretary)
    assert failed.status_code == 201, failed.get_json()
    assert client.get(f"{MEMBERS}/{member['id']}", headers=ADMIN).get_json()["lost_contact"] is True

    reached = client.post(url, json={"method": "visit", "result": "reached"}, headers=secretary)
    assert reached.status_code == 201
    record = client.get(f"{MEMBERS}/{member['id']}", headers=ADMIN).get_json()
    assert record["lost_contact"] is False and record["lost_contact_since"] is None
    assert record["standing"] == "normal"

    listed = client.get(url, headers=bearer("org_department", codes["county"])).get_json()["items"]
    assert [item["result"] for item in listed] == ["reached", "not_reached"]  # newest first
    (event,) = [e for e in events(database, "registration.contact_attempted.v1", member["id"]) if e["result"] == "reached"]
    assert event["actor"] == "sec-1" and event["actor_name"] == "王书记" and event["method"] == "visit"
    assert event["member_name"] == member["name"] and event["inflow_branch_code"] is None
    assert "note" not in event

    for body, field in (
        ({"method": "pigeon", "result": "reached"}, "method"),
        ({"method": "phone", "result": "maybe"}, "result"),
        ({"method": "phone"}, "result"),
        ({"method": "phone", "result": "reached", "extra": 1}, "extra"),
    ):
        refused = client.post(url, json=body, headers=secretary)
        assert refused.status_code == 422 and field in refused.get_json()["errors"]["json"], body
    other = sibling_branch(client, codes)
    for headers in (bearer("branch_secretary", other), bearer("member", codes["branch"], sub=member["id"])):
        assert client.post(url, json={"method": "phone", "result": "reached"}, headers=headers).status_code == 403
        assert client.get(url, headers=headers).status_code == 403
    assert client.post(f"{MEMBERS}/nobody/contact-attempts", json={"method": "phone", "result": "reached"},
                       headers=secretary).status_code == 403  # fmt: skip


def test_the_inflow_branch_keeps_the_contact_course_too(client, database):
    home = org_tree(client, ADMIN)
    away = org_tree(client, ADMIN)
    member = new_member(client, home["branch"])
    card = outflow(client, member["id"])["activity_card_no"]
    url = f"{MEMBERS}/{member['id']}/contact-attempts"
    inflow_secretary = bearer("branch_secretary", away["branch"])
    body = {"method": "online", "result": "reached"}
    assert client.post(url, json=body, headers=inflow_secretary).status_code == 403  # no inflow yet
    inflow = {
        "branch_code": away["branch"],
        "arrived_on": date.today().isoformat(),
        "current_address": "北京市朝阳区",
        "occupation": "快递员",
        "activity_card_no": card,
    }
    assert client.post(f"{MEMBERS}/{member['id']}/inflows", json=inflow, headers=ADMIN).status_code == 201
    made = client.post(url, json=body, headers=inflow_secretary)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["inflow_branch_code"] == away["branch"]
    assert client.get(url, headers=bearer("org_department", away["county"])).status_code == 200
    (event,) = events(database, "registration.contact_attempted.v1", member["id"])
    assert event["inflow_branch_code"] == away["branch"] and event["branch_code"] == home["branch"]


def lost_member(client, database, codes: dict[str, str], lost_days_ago: int) -> str:
    member = new_member(client, codes["branch"])
    with database.transaction() as session:
        row = session.get(Member, member["id"])
        row.last_contact_at = utcnow() - timedelta(days=lost_days_ago + 181)
    return member["id"]


def sweep_days(database, now: datetime, due_days: int = 180) -> int:
    commands.sweep_lost_contact(
        RegistrationUnitOfWork(database), commands.SWEEP_ACTOR, commands.SweepLostContact(180, now=now)
    )
    return course.sweep_suspension_due(
        RegistrationUnitOfWork(database), commands.SWEEP_ACTOR, course.SweepSuspensionDue(due_days, now=now)
    )


def failed_attempt(database, member_id: str, at: datetime) -> None:
    with database.transaction() as session:
        session.add(
            ContactAttempt(
                id=unique_code("ca").lower()[:26],
                member_id=member_id,
                method="phone",
                result="not_reached",
                attempted_at=at,
                recorder_org_code="CN",
                recorded_by="t",
                created_at=at,
            )
        )


def test_suspension_due_once_per_episode_after_days_and_three_failed_attempts(client, database):
    codes = org_tree(client, ADMIN)
    member_id = lost_member(client, database, codes, lost_days_ago=0)
    now = utcnow()
    sweep_days(database, now)
    with database.reader() as session:
        since = session.get(Member, member_id).lost_contact_since
    assert since == clock.local_today(now)
    later = now + timedelta(days=181)
    assert events(database, "registration.member_suspension_due.v1", member_id) == []
    # Two failed attempts only: not due yet, however long.
    failed_attempt(database, member_id, now + timedelta(days=1))
    failed_attempt(database, member_id, now + timedelta(days=2))
    sweep_days(database, later)
    assert events(database, "registration.member_suspension_due.v1", member_id) == []
    # A failed attempt from before the episode does not count.
    failed_attempt(database, member_id, now - timedelta(days=30))
    sweep_days(database, later)
    assert events(database, "registration.member_suspension_due.v1", member_id) == []
    failed_attempt(database, member_id, now + timedelta(days=3))
    # Three, but not yet the days: with 200 days configured, nothing.
    sweep_days(database, later, due_days=200)
    assert events(database, "registration.member_suspension_due.v1", member_id) == []
    sweep_days(database, later)
    sweep_days(database, later + timedelta(days=1))
    (event,) = events(database, "registration.member_suspension_due.v1", member_id)
    assert event["lost_contact_since"] == since.isoformat() and event["not_reached_attempts"] == 3
    assert event["county_code"] == codes["county"] and event["county_name"] == f"county {codes['county']}"

    # Contact ends the episode; a new episode gets its own notice.
    secretary = bearer("branch_secretary", codes["branch"])
    reached = client.post(f"{MEMBERS}/{member_id}/contact-attempts", json={"method": "phone", "result": "reached"},
                          headers=secretary)  # fmt: skip
    assert reached.status_code == 201
    with database.reader() as session:
        row = session.get(Member, member_id)
        assert row.lost_contact is False and row.lost_contact_since is None and row.suspension_due_on is None
    with database.transaction() as session:
        session.execute(
            update(Member).where(Member.id == member_id).values(last_contact_at=utcnow() - timedelta(days=200))
        )
    second = utcnow()
    sweep_days(database, second)
    for day in (1, 2, 3):
        failed_attempt(database, member_id, second + timedelta(days=day))
    sweep_days(database, second + timedelta(days=181))
    assert len(events(database, "registration.member_suspension_due.v1", member_id)) == 2


def test_standing_decisions_by_the_org_department(client, database):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    url = f"{MEMBERS}/{member['id']}/standing"
    today = clock.local_today().isoformat()
    body = {"standing": "suspended", "reason": "失联超过六个月", "decided_on": today}
    for headers in (
        bearer("branch_secretary", codes["branch"]),
        bearer("township_officer", codes["township"]),
        bearer("org_department", org_tree(client, ADMIN)["county"]),
        ADMIN,
        bearer("member", codes["branch"], sub=member["id"]),
    ):
        assert client.post(url, json=body, headers=headers).status_code == 403
    department = bearer("org_department", codes["county"], sub="dept-1", name="组织部张部长")
    decided = client.post(url, json=body, headers=department)
    assert decided.status_code == 201, decided.get_json()
    assert decided.get_json()["new_standing"] == "suspended"
    assert client.get(f"{MEMBERS}/{member['id']}", headers=ADMIN).get_json()["standing"] == "suspended"
    assert client.post(url, json=body, headers=department).status_code == 409
    restored = client.post(url, json={**body, "standing": "restored", "reason": "已恢复联系"}, headers=department)
    assert restored.status_code == 201 and restored.get_json()["new_standing"] == "normal"
    assert client.post(url, json={**body, "standing": "restored"}, headers=department).status_code == 409
    removed = client.post(url, json={**body, "standing": "removed"}, headers=department)
    assert removed.status_code == 201 and removed.get_json()["new_standing"] == "removed"
    assert client.post(url, json={**body, "standing": "restored"}, headers=department).status_code == 409

    changes = events(database, "registration.member_standing_changed.v1", member["id"])
    assert [(e["standing"], e["previous_standing"], e["new_standing"]) for e in changes] == [
        ("suspended", "normal", "suspended"),
        ("restored", "suspended", "normal"),
        ("removed", "normal", "removed"),
    ]
    assert changes[0]["actor"] == "dept-1" and changes[0]["actor_name"] == "组织部张部长"
    assert changes[0]["actor_org_code"] == codes["county"]
    assert changes[0]["actor_org_name"] == f"county {codes['county']}"
    assert len(audits(database, member["id"], "decide_standing")) == 3

    fresh = new_member(client, codes["branch"])
    fresh_url = f"{MEMBERS}/{fresh['id']}/standing"
    tomorrow = (clock.local_today() + timedelta(days=1)).isoformat()
    for bad, field in (
        ({**body, "standing": "normal"}, "standing"),
        ({**body, "reason": ""}, "reason"),
        ({**body, "decided_on": tomorrow}, "decided_on"),
        ({"standing": "suspended", "reason": "x"}, "decided_on"),
    ):
        refused = client.post(fresh_url, json=bad, headers=department)
        assert refused.status_code == 422 and field in refused.get_json()["errors"]["json"], bad


# --- monthly coverage ------------------------------------------------------------------------


def test_coverage_counts_a_china_month_and_lists_the_not_reached(client, database):
    codes = org_tree(client, ADMIN)
    checked = new_member(client, codes["branch"])
    attempted = new_member(client, codes["branch"])
    missed = new_member(client, codes["branch"])
    late = new_member(client, codes["branch"])
    for member in (checked, attempted, missed, late):
        outflow(client, member["id"])
    new_member(client, codes["branch"])  # not mobile: not counted
    month_start = datetime(2026, 3, 1, tzinfo=clock.CHINA_TIME)
    with database.transaction() as session:
        session.get(Member, missed["id"]).lost_contact = True
        # 1 March 00:30 in China is still February in UTC: it counts for March.
        session.add(Checkin(id=unique_code("ci").lower()[:26], member_id=checked["id"], branch_code=codes["branch"],
                            kind="grid_survey", occurred_at=month_start + timedelta(minutes=30), recorded_by="t",
                            created_at=utcnow()))  # fmt: skip
        # 1 April 00:30 China time is 31 March in UTC: not March.
        session.add(Checkin(id=unique_code("ci").lower()[:26], member_id=late["id"], branch_code=codes["branch"],
                            kind="grid_survey", occurred_at=datetime(2026, 3, 31, 16, 30, tzinfo=UTC),
                            recorded_by="t", created_at=utcnow()))  # fmt: skip
        session.add(ContactAttempt(id=unique_code("ca").lower()[:26], member_id=attempted["id"], method="phone",
                                   result="reached", attempted_at=month_start + timedelta(days=10),
                                   recorder_org_code="CN", recorded_by="t", created_at=utcnow()))  # fmt: skip
        session.add(ContactAttempt(id=unique_code("ca").lower()[:26], member_id=missed["id"], method="phone",
                                   result="not_reached", attempted_at=month_start + timedelta(days=10),
                                   recorder_org_code="CN", recorded_by="t", created_at=utcnow()))  # fmt: skip
    township = bearer("township_officer", codes["township"])
    figures = client.get(f"/api/v1/stats/coverage?org={codes['township']}&month=2026-03", headers=township)
    assert figures.status_code == 200, figures.get_json()
    assert figures.get_json() == {
        "org": codes["township"],
        "month": "2026-03",
        "mobile_members": 4,
        "reached": 2,
        "not_reached": 2,
        "lost_contact": 1,
    }
    listed = client.get(
        f"{MEMBERS}?org={codes['branch']}&mobile=true&not_reached_in=2026-03",
        headers=bearer("branch_secretary", codes["branch"]),
    )
    assert listed.status_code == 200, listed.get_json()
    assert {item["id"] for item in listed.get_json()["items"]} == {missed["id"], late["id"]}
    for query, field in (("org=X&month=2026-13", "month"), (f"org={codes['branch']}", "month"),
                         (f"org={codes['branch']}&month=2026-03&extra=1", "extra")):  # fmt: skip
        refused = client.get(f"/api/v1/stats/coverage?{query}", headers=ADMIN)
        assert refused.status_code == 422 and field in refused.get_json()["errors"]["query"], query
    outside = bearer("branch_secretary", org_tree(client, ADMIN)["branch"])
    assert client.get(f"/api/v1/stats/coverage?org={codes['branch']}&month=2026-03", headers=outside).status_code == 403
    for month in ("2026-3", "0000-01", "9999-12", "\u0662\u0660\u0662\u0666-03"):
        bad_month = client.get(f"{MEMBERS}?not_reached_in={month}", headers=ADMIN)
        assert bad_month.status_code == 422 and "not_reached_in" in bad_month.get_json()["errors"]["query"], month
        bad_figures = client.get(f"/api/v1/stats/coverage?org={codes['branch']}&month={month}", headers=ADMIN)
        assert bad_figures.status_code == 422 and "month" in bad_figures.get_json()["errors"]["query"], month

    # The reminder: once per branch and month, with a deterministic event id.
    run = course.RemindCoverage(month="2026-03")
    course.remind_coverage(RegistrationUnitOfWork(database), commands.SWEEP_ACTOR, run)
    course.remind_coverage(RegistrationUnitOfWork(database), commands.SWEEP_ACTOR, run)
    (reminder,) = events(database, "registration.coverage_reminder_due.v1", codes["branch"])
    assert reminder["id"] == course.coverage_event_id(codes["branch"], "2026-03")
    assert reminder["month"] == "2026-03" and reminder["mobile_members"] == 4 and reminder["not_reached"] == 2
    assert sorted(reminder["not_reached_names"]) == sorted([missed["name"], late["name"]])
    assert reminder["branch_name"] == f"branch {codes['branch']}"
    assert reminder["branch_path"][-1] == codes["branch"]


def test_the_search_indexes_exist(database):
    """The searches' indexes as migrations 0007 and 0008 leave them: the keyed hash's on members,
    and the name grams' two (their primary key and the scope index), which replaced the trigram
    and (path, name, id) indexes of 0007."""
    from sqlalchemy import inspect

    with database.engine.connect() as connection:
        names = {index["name"] for index in inspect(connection).get_indexes("members")}
        assert "ix_members_id_number_hash" in names
        assert not {"ix_members_branch_path_name", "ix_members_name_trgm"} & names
        grams = inspect(connection)
        assert grams.get_pk_constraint("member_name_grams")["constrained_columns"] == ["gram", "member_id"]
        (scope,) = grams.get_indexes("member_name_grams")
        assert scope["name"] == "ix_member_name_grams_scope"
        assert scope["column_names"] == ["gram", "branch_path", "member_id"]


def test_time_filters_at_the_ends_of_the_calendar_are_refused_not_failed(client):
    # Converted to UTC these overflow; they were a 500 on /checkins before the filters had a range.
    for since in ("9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00%2B10:00", "1800-01-01T00:00:00Z"):
        refused = client.get(f"/api/v1/checkins?since={since}", headers=ADMIN)
        assert refused.status_code == 422 and "since" in refused.get_json()["errors"]["query"], since
    assert client.get("/api/v1/checkins?since=2026-01-01T00:00:00%2B08:00", headers=ADMIN).status_code == 200


def test_members_without_a_hash_are_hashed_by_the_one_time_step(client, database, settings_for):
    from services.registration.id_hashes import backfill_id_number_hashes

    codes = org_tree(client, ADMIN)
    number = id_number()
    member = new_member(client, codes["branch"], id_number=number)
    with database.transaction() as session:
        session.execute(update(Member).where(Member.id == member["id"]).values(id_number_hash=None))
    assert client.get(f"{MEMBERS}?id_number={number}", headers=ADMIN).get_json()["items"] == []
    assert backfill_id_number_hashes(database, settings_for("registration").id_hash_key, batch=500) >= 1
    found = client.get(f"{MEMBERS}?id_number={number}", headers=ADMIN).get_json()["items"]
    assert [item["id"] for item in found] == [member["id"]]
    assert backfill_id_number_hashes(database, settings_for("registration").id_hash_key) == 0
