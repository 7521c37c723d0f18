"""The ledger as secretaries keep it (issue 18, part A) over HTTP on the real database: editing a
member with If-Match, dues payments, one open outflow and returns, inflows by the card, and the
inflow side (双向管理): reads, lists and the inflow ledger."""

from __future__ import annotations

import json
import random
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.registration.app import create_app
from services.registration.models import DuesPayment, Inflow, Member, Outflow, audit_log, outbox
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from tests.support.builders import member_body, org_tree
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


@pytest.fixture(scope="module")
def database(migrated):
    return migrated("registration")


@pytest.fixture()
def home(client) -> dict[str, str]:
    """A home tree (province → county → township → branch) and a sibling branch."""
    codes = org_tree(client, ADMIN)
    sibling = f"{codes['branch']}-S"
    made = client.post(
        "/api/v1/orgs",
        json={"code": sibling, "name": "兄弟支部", "level": "branch", "parent_code": codes["township"]},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.get_json()
    return {**codes, "sibling": sibling}


@pytest.fixture()
def away(client) -> dict[str, str]:
    """Another province's tree: where members flow in."""
    return org_tree(client, ADMIN)


def new_member(client, branch: str, **overrides) -> dict:
    response = client.post("/api/v1/members", json=member_body(branch, **overrides), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def secretary(branch: str) -> dict[str, str]:
    return bearer("branch_secretary", branch, name="王书记")


def as_member(member: dict) -> dict[str, str]:
    return bearer("member", member["branch_code"], sub=member["id"], name=member["name"])


def today() -> date:
    return clock.local_today()


def outflow_body(**overrides) -> dict:
    body = {
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区灵芝街道",
        "occupation": "建筑工人",
        "departed_on": (today() - timedelta(days=10)).isoformat(),
        "expected_return_on": (today() + timedelta(days=300)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
    }
    return {**body, **overrides}


def go_away(client, member: dict, headers=ADMIN) -> dict:
    response = client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def inflow_body(branch: str, card: str | None, **overrides) -> dict:
    body = {
        "branch_code": branch,
        "arrived_on": (today() - timedelta(days=5)).isoformat(),
        "current_address": "浙江省绍兴市越城区灵芝街道新业社区",
        "occupation": "建筑工人",
        "contact_person": "张书记",
        "activity_card_no": card,
    }
    return {**body, **overrides}


def arrive(client, member: dict, branch: str, card: str) -> dict:
    response = client.post(
        f"/api/v1/members/{member['id']}/inflows", json=inflow_body(branch, card), headers=secretary(branch)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def events_of(database, member_id: str, event_type: str) -> list[dict]:
    with database.reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == member_id, outbox.table.c.event_type == event_type
            )
        ).all()
    return [json.loads(body)["data"] if "data" in json.loads(body) else json.loads(body) for body in bodies]


def audits_of(database, object_id: str) -> list[tuple[str, str | None, str]]:
    with database.reader() as session:
        rows = session.execute(
            select(audit_log.c.action, audit_log.c.detail, audit_log.c.actor).where(
                audit_log.c.object_id == object_id
            )
        ).all()
    return [tuple(row) for row in rows]


def read(client, member_id: str, headers=ADMIN):
    response = client.get(f"/api/v1/members/{member_id}", headers=headers)
    return response


def patch(client, member_id: str, body: dict, headers=ADMIN, etag: str | None = "read"):
    if etag == "read":
        etag = read(client, member_id).headers["ETag"]
    extra = {"If-Match": etag} if etag is not None else {}
    return client.patch(f"/api/v1/members/{member_id}", json=body, headers={**headers, **extra})


def next_month(months: int) -> str:
    index = today().year * 12 + today().month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- PATCH with If-Match ------------------------------------------------------------------


def test_a_read_carries_an_etag_and_a_patch_needs_it(client, database, home):
    member = new_member(client, home["branch"])
    first = read(client, member["id"])
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    body = {"name": "李明华", "six_facts": {"current_address": "湖北省利川市都亭街道"}}
    missing = patch(client, member["id"], body, secretary(home["branch"]), etag=None)
    assert missing.status_code == 428, missing.get_json()
    star = patch(client, member["id"], body, secretary(home["branch"]), etag="*")
    assert star.status_code == 428
    done = patch(client, member["id"], body, secretary(home["branch"]), etag=first.headers["ETag"])
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["name"] == "李明华"
    assert done.get_json()["six_facts"]["current_address"] == "湖北省利川市都亭街道"
    assert done.headers["ETag"] != first.headers["ETag"]
    assert read(client, member["id"]).headers["ETag"] == done.headers["ETag"]
    # The stale ETag never overwrites: the record keeps the first edit.
    stale = patch(
        client, member["id"], {"name": "李四"}, secretary(home["branch"]), etag=first.headers["ETag"]
    )
    assert stale.status_code == 412, stale.get_json()
    assert read(client, member["id"]).get_json()["name"] == "李明华"
    weak = patch(client, member["id"], {"name": "李四"}, etag="W/" + done.headers["ETag"])
    assert weak.status_code == 412
    # The event names the fields, never their values; the change is audited.
    [event] = events_of(database, member["id"], "registration.member_updated.v1")
    assert event["fields"] == ["name", "six_facts.current_address"]
    assert event["actor"] == f"branch_secretary-{home['branch']}" and event["actor_name"] == "王书记"
    assert event["actor_role"] == "branch_secretary" and event["actor_org_code"] == home["branch"]
    # (member_name names the member, as in every member event; the new address is nowhere.)
    assert "利川" not in json.dumps(event, ensure_ascii=False)
    assert ("update", "name,six_facts.current_address", f"branch_secretary-{home['branch']}") in audits_of(
        database, member["id"]
    )


def test_an_unchanged_patch_writes_nothing(client, database, home):
    member = new_member(client, home["branch"])
    etag = read(client, member["id"]).headers["ETag"]
    same = patch(client, member["id"], {"name": member["name"], "gender": member["gender"]}, etag=etag)
    assert same.status_code == 200 and same.headers["ETag"] == etag
    assert events_of(database, member["id"], "registration.member_updated.v1") == []


def test_the_version_condition_is_in_the_update_itself(client, database, home):
    """Between the check and the write another change may land: the UPDATE's own WHERE refuses."""
    member = new_member(client, home["branch"])
    with RegistrationUnitOfWork(database) as uow:
        loaded = uow.members.get(member["id"])
        assert loaded is not None
        read_version = loaded.version
        uow.commit()
    assert patch(client, member["id"], {"name": "赵六"}).status_code == 200
    with RegistrationUnitOfWork(database) as uow:
        loaded = uow.members.get(member["id"])
        assert loaded is not None
        assert not uow.members.update_if_version(loaded, read_version, {"name": "钱七"})
        uow.commit()
    assert read(client, member["id"]).get_json()["name"] == "赵六"


def test_who_may_change_which_field(client, home):
    member = new_member(client, home["branch"])
    mine = as_member(member)
    own = patch(
        client,
        member["id"],
        {
            "phone": "13700001111",
            "six_facts": {"occupation": "厨师", "employer": None, "contact_phone": "13700002222"},
        },
        mine,
    )
    assert own.status_code == 200, own.get_json()
    assert own.get_json()["phone"] == "13700001111"
    assert own.get_json()["six_facts"]["contact_phone"] == "13700002222"
    for body, field in (
        ({"name": "改名"}, "name"),
        ({"status": "probationary"}, "status"),
        ({"birth_date": "1990-05-17"}, "birth_date"),
    ):
        refused = patch(client, member["id"], body, mine)
        assert refused.status_code == 403, (field, refused.get_json())
        assert field in refused.get_json()["errors"]["json"], refused.get_json()
    other = new_member(client, home["branch"])
    assert patch(client, other["id"], {"phone": "13700003333"}, mine).status_code == 403
    assert patch(client, member["id"], {"name": "改名"}, secretary(home["sibling"])).status_code == 403
    assert (
        patch(
            client, member["id"], {"status": "probationary"}, bearer("township_officer", home["township"])
        ).status_code
        == 200
    )


@pytest.mark.parametrize("field", ["id_number", "branch_code", "dues_paid_through"])
def test_fixed_fields_are_not_patchable(client, home, field):
    member = new_member(client, home["branch"])
    value = {
        "id_number": member["id_number"],
        "branch_code": home["sibling"],
        "dues_paid_through": "2026-12",
    }[field]
    for headers in (ADMIN, as_member(member)):
        response = patch(client, member["id"], {field: value}, headers)
        assert response.status_code == 422, response.get_json()
        assert field in response.get_json()["errors"]["json"]


def test_patch_values_follow_the_member_rules(client, home):
    member = new_member(client, home["branch"])
    cases = {
        "phone": {"phone": "12345678901"},
        "gender": {"gender": "unknown"},
        "status": {"status": "honorary"},
        "name": {"name": ""},
        "birth_date": {"birth_date": "1991-01-01"},  # not the date in the ID number
    }
    for field, body in cases.items():
        response = patch(client, member["id"], body)
        assert response.status_code == 422, (field, response.get_json())
        assert field in response.get_json()["errors"]["json"], (field, response.get_json())
    nested = patch(client, member["id"], {"six_facts": {"contact_phone": "123"}})
    assert nested.status_code == 422
    assert "contact_phone" in nested.get_json()["errors"]["json"]["six_facts"]
    assert read(client, member["id"]).get_json()["phone"] == member["phone"]


# --- dues ---------------------------------------------------------------------------------


def test_dues_move_forward_as_decimals(client, database, home):
    member = new_member(client, home["branch"], dues_paid_through=next_month(-3))
    url = f"/api/v1/members/{member['id']}/dues"
    headers = secretary(home["branch"])
    first = client.post(url, json={"paid_through": next_month(-1), "amount": "12.5"}, headers=headers)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert set(body) == {"id", "member_id", "paid_through", "amount", "paid_on", "recorded_by"}
    assert body["amount"] == "12.50" and body["paid_on"] == today().isoformat()
    assert body["recorded_by"] == f"branch_secretary-{home['branch']}"
    second = client.post(
        url,
        json={
            "paid_through": next_month(2),
            "amount": "0.10",
            "paid_on": (today() - timedelta(days=1)).isoformat(),
        },
        headers=headers,
    )
    assert second.status_code == 201, second.get_json()
    assert read(client, member["id"]).get_json()["dues_paid_through"] == next_month(2)
    listed = client.get(url, headers=as_member(member))
    assert listed.status_code == 200
    assert [item["paid_through"] for item in listed.get_json()["items"]] == [next_month(2), next_month(-1)]
    with database.reader() as session:
        amounts = session.scalars(
            select(DuesPayment.amount).where(DuesPayment.member_id == member["id"])
        ).all()
    assert sorted(amounts) == [Decimal("0.10"), Decimal("12.50")] and all(
        isinstance(a, Decimal) for a in amounts
    )
    events = events_of(database, member["id"], "registration.dues_recorded.v1")
    assert sorted(event["amount"] for event in events) == ["0.10", "12.50"]
    assert {event["paid_through"] for event in events} == {next_month(-1), next_month(2)}
    assert all(event["actor_name"] == "王书记" and event["dues_id"] for event in events)


def test_dues_refusals(client, home):
    member = new_member(client, home["branch"], dues_paid_through=next_month(0))
    url = f"/api/v1/members/{member['id']}/dues"
    headers = secretary(home["branch"])
    conflicts = [next_month(0), next_month(-2)]
    for month in conflicts:
        response = client.post(url, json={"paid_through": month, "amount": "10"}, headers=headers)
        assert response.status_code == 409, (month, response.get_json())
    too_far = client.post(url, json={"paid_through": next_month(13), "amount": "10"}, headers=headers)
    assert too_far.status_code == 422 and "paid_through" in too_far.get_json()["errors"]["json"]
    for amount in ("0", "0.00", "-1", "1.234", "abc", "1e3", " 12", 12.5, "123456789.00"):
        response = client.post(url, json={"paid_through": next_month(1), "amount": amount}, headers=headers)
        assert response.status_code == 422, (amount, response.get_json())
        assert "amount" in response.get_json()["errors"]["json"], (amount, response.get_json())
    future = client.post(
        url,
        json={
            "paid_through": next_month(1),
            "amount": "10",
            "paid_on": (today() + timedelta(days=2)).isoformat(),
        },
        headers=headers,
    )
    assert future.status_code == 422 and "paid_on" in future.get_json()["errors"]["json"]
    bad_month = client.post(url, json={"paid_through": "2026-13", "amount": "10"}, headers=headers)
    assert bad_month.status_code == 422
    # Only staff over the member's branch record dues; nothing was written by any refusal.
    for who in (as_member(member), secretary(home["sibling"])):
        assert (
            client.post(url, json={"paid_through": next_month(1), "amount": "10"}, headers=who).status_code
            == 403
        )
    assert client.get(url, headers=ADMIN).get_json()["items"] == []
    at_limit = client.post(url, json={"paid_through": next_month(12), "amount": "300"}, headers=headers)
    assert at_limit.status_code == 201, at_limit.get_json()


# --- one open outflow, returns ------------------------------------------------------------


def test_outflow_return_outflow(client, database, home):
    member = new_member(client, home["branch"])
    first = go_away(client, member)
    again = client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN)
    assert again.status_code == 409, again.get_json()
    shown = read(client, member["id"], as_member(member)).get_json()
    assert shown["mobile"] is True
    assert shown["open_outflow"] == {
        "id": first["id"],
        "activity_card_no": first["activity_card_no"],
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区灵芝街道",
        "departed_on": first["departed_on"],
        "expected_return_on": first["expected_return_on"],
    }
    url = f"/api/v1/members/{member['id']}/returns"
    early = client.post(url, json={"returned_on": (today() - timedelta(days=11)).isoformat()}, headers=ADMIN)
    assert early.status_code == 422 and "returned_on" in early.get_json()["errors"]["json"]
    future = client.post(url, json={"returned_on": (today() + timedelta(days=1)).isoformat()}, headers=ADMIN)
    assert future.status_code == 422
    assert (
        client.post(
            url, json={"returned_on": today().isoformat()}, headers=secretary(home["sibling"])
        ).status_code
        == 403
    )
    back = client.post(
        url, json={"returned_on": today().isoformat(), "note": "返乡"}, headers=as_member(member)
    )
    assert back.status_code == 201, back.get_json()
    assert back.get_json()["outflow_id"] == first["id"] and back.get_json()["mobile"] is False
    after = read(client, member["id"]).get_json()
    assert after["mobile"] is False and after["open_outflow"] is None
    assert client.post(url, json={"returned_on": today().isoformat()}, headers=ADMIN).status_code == 409
    [event] = events_of(database, member["id"], "registration.member_returned.v1")
    assert event["outflow_id"] == first["id"] and event["activity_card_no"] == first["activity_card_no"]
    assert event["returned_on"] == today().isoformat() and event["destination_region"] == "330602"
    assert event["destination_region_name"] == "浙江省绍兴市越城区"
    assert event["actor"] == member["id"]
    second = go_away(client, member, secretary(home["branch"]))
    assert second["activity_card_no"] != first["activity_card_no"]
    assert read(client, member["id"]).get_json()["open_outflow"]["id"] == second["id"]
    with database.reader() as session:
        closed = session.get(Outflow, first["id"])
        assert closed is not None and closed.closed_reason == "returned" and closed.close_note == "返乡"


def test_a_member_never_back_has_no_return(client, home):
    member = new_member(client, home["branch"])
    response = client.post(
        f"/api/v1/members/{member['id']}/returns", json={"returned_on": today().isoformat()}, headers=ADMIN
    )
    assert response.status_code == 409


def test_open_outflow_is_not_shown_to_a_fellow_member_nor_in_lists(client, home):
    member = new_member(client, home["branch"])
    go_away(client, member)
    peer = new_member(client, home["branch"])
    seen = read(client, member["id"], as_member(peer)).get_json()
    assert "open_outflow" not in seen
    listed = client.get(f"/api/v1/members?branch={home['branch']}&limit=200", headers=ADMIN).get_json()
    assert all("open_outflow" not in item for item in listed["items"])


# --- inflows by the card, and the inflow side ---------------------------------------------


def test_a_secretarys_inflow_carries_the_open_outflows_card(client, home, away):
    member = new_member(client, home["branch"])
    card = go_away(client, member)["activity_card_no"]
    url = f"/api/v1/members/{member['id']}/inflows"
    inflow_secretary = secretary(away["branch"])
    for card_sent in (None, "XX-2026-000001"):
        response = client.post(url, json=inflow_body(away["branch"], card_sent), headers=inflow_secretary)
        assert response.status_code == 422, response.get_json()
        assert "activity_card_no" in response.get_json()["errors"]["json"]
    assert (
        client.post(url, json=inflow_body(away["branch"], card), headers=inflow_secretary).status_code == 201
    )
    # Back home, the old card proves nothing.
    client.post(
        f"/api/v1/members/{member['id']}/returns", json={"returned_on": today().isoformat()}, headers=ADMIN
    )
    stale = client.post(url, json=inflow_body(away["branch"], card), headers=inflow_secretary)
    assert stale.status_code == 422
    # A member registers their own arrival without the card.
    own = client.post(url, json=inflow_body(away["branch"], None), headers=as_member(member))
    assert own.status_code == 201, own.get_json()


def test_the_inflow_side_manages_the_member(client, database, home, away):
    member = new_member(client, home["branch"])
    card = go_away(client, member)["activity_card_no"]
    inflow_secretary = secretary(away["branch"])
    county = bearer("org_department", away["county"])
    assert read(client, member["id"], inflow_secretary).status_code == 403
    arrive(client, member, away["branch"], card)
    for headers in (inflow_secretary, county):
        seen = read(client, member["id"], headers)
        assert seen.status_code == 200, seen.get_json()
        assert seen.get_json()["id_number"] == member["id_number"]
        assert seen.get_json()["inflow_branch_code"] == away["branch"]
    assert ("read_full", "inflow side", f"branch_secretary-{away['branch']}") in audits_of(
        database, member["id"]
    )
    assert client.get(f"/api/v1/members/{member['id']}/mobility", headers=inflow_secretary).status_code == 200
    assert (
        client.get(f"/api/v1/checkins?member_id={member['id']}", headers=inflow_secretary).status_code == 200
    )
    assert client.get(f"/api/v1/members/{member['id']}/dues", headers=inflow_secretary).status_code == 200
    survey = {"member_id": member["id"], "branch_code": away["branch"], "kind": "grid_survey"}
    assert client.post("/api/v1/checkins", json=survey, headers=inflow_secretary).status_code == 201
    # Managing is not editing: the record and the dues stay with the home branch.
    assert patch(client, member["id"], {"phone": "13700004444"}, inflow_secretary).status_code == 403
    dues = client.post(
        f"/api/v1/members/{member['id']}/dues",
        json={"paid_through": next_month(1), "amount": "5"},
        headers=inflow_secretary,
    )
    assert dues.status_code == 403
    # Lists and ledgers of the inflow side.
    listed = client.get(f"/api/v1/members?inflow_branch={away['branch']}", headers=inflow_secretary)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.get_json()["items"]] == [member["id"]]
    assert listed.get_json()["items"][0]["id_number"] != member["id_number"]  # masked
    by_county = client.get(f"/api/v1/members?inflow_branch={away['county']}", headers=county).get_json()
    assert member["id"] in [item["id"] for item in by_county["items"]]
    assert (
        client.get(
            f"/api/v1/members?inflow_branch={away['branch']}", headers=secretary(home["branch"])
        ).status_code
        == 403
    )
    both = client.get(
        f"/api/v1/members?inflow_branch={away['branch']}&branch={away['branch']}", headers=county
    )
    assert both.status_code == 422
    inflow_ledger = client.get(f"/api/v1/ledger?org={away['county']}&side=inflow&format=json", headers=county)
    assert inflow_ledger.status_code == 200
    assert [row["member_id"] for row in inflow_ledger.get_json()["items"]] == [member["id"]]
    outflow_side = client.get(f"/api/v1/ledger?org={away['county']}&format=json", headers=county).get_json()
    assert outflow_side["items"] == []
    home_ledger = client.get(
        f"/api/v1/ledger?org={home['county']}&side=outflow&format=json", headers=ADMIN
    ).get_json()
    assert member["id"] in [row["member_id"] for row in home_ledger["items"]]
    assert client.get(f"/api/v1/ledger?org={away['county']}&side=sideways", headers=county).status_code == 422
    # The return ends the inflow: the inflow side lets go.
    client.post(
        f"/api/v1/members/{member['id']}/returns", json={"returned_on": today().isoformat()}, headers=ADMIN
    )
    assert read(client, member["id"], inflow_secretary).status_code == 403
    assert (
        client.get(f"/api/v1/members?inflow_branch={away['branch']}", headers=inflow_secretary).get_json()[
            "items"
        ]
        == []
    )
    with database.reader() as session:
        ended = session.scalars(select(Inflow.ended_on).where(Inflow.member_id == member["id"])).all()
    assert ended == [today()]


def test_a_new_inflow_ends_the_one_before(client, database, home, away):
    member = new_member(client, home["branch"])
    card = go_away(client, member)["activity_card_no"]
    arrive(client, member, away["branch"], card)
    elsewhere = org_tree(client, ADMIN)
    arrive(client, member, elsewhere["branch"], card)
    assert read(client, member["id"], secretary(away["branch"])).status_code == 403
    assert read(client, member["id"], secretary(elsewhere["branch"])).status_code == 200
    with database.reader() as session:
        open_ones = session.scalars(
            select(Inflow.branch_code).where(Inflow.member_id == member["id"], Inflow.ended_on.is_(None))
        ).all()
    assert open_ones == [elsewhere["branch"]]


def test_a_relationship_move_closes_the_outflow_and_the_inflow(client, database, home, away):
    member = new_member(client, home["branch"])
    card = go_away(client, member)["activity_card_no"]
    arrive(client, member, away["branch"], card)
    moved = client.post(
        f"/api/v1/members/{member['id']}/relationship",
        json={"branch_code": away["branch"], "transfer_id": f"t-{random.randrange(10**9)}"},
        headers=bearer("service", "CN", sub="svc:transfer"),
    )
    assert moved.status_code == 200, moved.get_json()
    record = read(client, member["id"]).get_json()
    assert (
        record["open_outflow"] is None and record["inflow_branch_code"] is None and record["mobile"] is False
    )
    with database.reader() as session:
        member_row = session.get(Member, member["id"])
        assert member_row is not None and member_row.inflow_branch_path is None
        reasons = session.scalars(
            select(Outflow.closed_reason).where(Outflow.member_id == member["id"])
        ).all()
    assert reasons == ["moved"]
    # Now a member of the away branch, they may go away again.
    go_away(client, member)


def test_the_seeded_lichuan_members_show_in_the_shaoxing_inflow_ledger(client, database):
    from deploy.seed import seed_members, seed_orgs

    seed_orgs(database)
    seed_members(database, rng=random.Random(2026), force=True)
    with database.reader() as session:
        expected = set(
            session.scalars(
                select(Member.id).where(
                    Member.inflow_branch_code == "ZJ-SX-YC-LS-01",
                    Member.branch_path.like("/CN/HB/HB-ES/HB-LC/%"),
                )
            )
        )
    assert expected, "the demo seed registers Lichuan members' inflows at a Shaoxing branch"
    response = client.get(
        "/api/v1/ledger?org=ZJ-SX-YC&side=inflow&format=json", headers=bearer("org_department", "ZJ-SX-YC")
    )
    assert response.status_code == 200
    rows = response.get_json()["items"]
    assert expected <= {row["member_id"] for row in rows}
    assert all(row["inflow_branch_code"].startswith("ZJ-SX-YC") for row in rows)
    # The sheets people keep, of the inflow side: the Lichuan branches by name, the Shaoxing one.
    sheet = client.get(
        "/api/v1/ledger?org=ZJ-SX-YC&side=inflow&format=csv", headers=bearer("org_department", "ZJ-SX-YC")
    )
    assert sheet.status_code == 200
    text = sheet.get_data(as_text=True)
    from deploy.seed import ORGS

    lichuan_branches = {
        name for code, name, level, _, _ in ORGS if code.startswith("HB-LC-") and level == "branch"
    }
    assert "灵芝街道新业社区党支部" in text and any(name in text for name in lichuan_branches)
    assert text.count("\n") >= len(expected) + 2  # the title row, the headers, the members
    xlsx = client.get(
        "/api/v1/ledger?org=ZJ-SX-YC&side=inflow&format=xlsx", headers=bearer("org_department", "ZJ-SX-YC")
    )
    assert xlsx.status_code == 200 and xlsx.get_data()[:2] == b"PK"


# --- races: the database decides ----------------------------------------------------------


def race(calls) -> list[int]:
    """Run the calls at once (a barrier releases them together); their statuses."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = []

    def run(call) -> None:
        barrier.wait()
        statuses.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


RACERS = 6


def test_of_editors_holding_one_etag_exactly_one_writes(client, database, home):
    member = new_member(client, home["branch"])
    etag = read(client, member["id"]).headers["ETag"]
    app = client.application
    names = [f"赵{'一二三四五六'[index]}" for index in range(RACERS)]  # none is the name it has

    def edit(name: str):
        headers = {**ADMIN, "If-Match": etag}
        return lambda: (
            app.test_client()
            .patch(f"/api/v1/members/{member['id']}", json={"name": name}, headers=headers)
            .status_code
        )

    statuses = race([edit(name) for name in names])
    assert sorted(statuses) == [200] + [412] * (RACERS - 1), statuses
    assert read(client, member["id"]).get_json()["name"] in names
    assert len(events_of(database, member["id"], "registration.member_updated.v1")) == 1


def test_of_payments_racing_for_one_month_exactly_one_lands(client, database, home):
    member = new_member(client, home["branch"], dues_paid_through=next_month(-1))
    app = client.application
    body = {"paid_through": next_month(1), "amount": "10.00"}

    def pay():
        return (
            app.test_client()
            .post(f"/api/v1/members/{member['id']}/dues", json=body, headers=ADMIN)
            .status_code
        )

    statuses = race([pay for _ in range(RACERS)])
    assert sorted(statuses) == [201] + [409] * (RACERS - 1), statuses
    assert len(client.get(f"/api/v1/members/{member['id']}/dues", headers=ADMIN).get_json()["items"]) == 1


def test_of_outflows_racing_for_one_member_exactly_one_opens(client, database, home):
    member = new_member(client, home["branch"])
    app = client.application

    def leave():
        return (
            app.test_client()
            .post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN)
            .status_code
        )

    statuses = race([leave for _ in range(RACERS)])
    assert sorted(statuses) == [201] + [409] * (RACERS - 1), statuses
    with database.reader() as session:
        opened = session.scalars(select(Outflow.id).where(Outflow.member_id == member["id"])).all()
    assert len(opened) == 1


def test_a_write_landing_during_an_edit_makes_the_edits_etag_stale(client, database, home):
    """A check-in that read the member before an edit committed, and writes after it: its version
    step is counted in SQL (version + 1), so the edit's ETag is stale afterwards and cannot
    overwrite what the check-in wrote. (SQLite serializes whole write transactions, so only
    PostgreSQL can interleave them like this.)"""
    if database.is_sqlite:
        pytest.skip("SQLite serializes writers: the interleaving cannot happen")
    from services.registration.commands.registry import follow_checkin

    member = new_member(client, home["branch"])
    with RegistrationUnitOfWork(database) as uow:
        loaded = uow.members.get(member["id"])
        assert loaded is not None
        edited = patch(client, member["id"], {"name": "孙七"})
        assert edited.status_code == 200
        now = clock.utcnow()
        follow_checkin(loaded, now, now - timedelta(days=180))
        uow.commit()
    current = read(client, member["id"])
    assert current.headers["ETag"] != edited.headers["ETag"]
    assert current.get_json()["name"] == "孙七" and current.get_json()["last_contact_at"] is not None
    stale = patch(client, member["id"], {"name": "周八"}, etag=edited.headers["ETag"])
    assert stale.status_code == 412
