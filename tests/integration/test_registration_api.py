"""Registration endpoints over HTTP (Flask test client) on the real database:
members, outflows, inflows, check-ins, nearest branch, the ledger and imports."""

import csv
import io
import json
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from services.registration.app import create_app
from services.registration.models import Member, audit_log, outbox
from tests.support.builders import id_number, member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def new_member(client, branch: str, **overrides) -> dict:
    response = client.post("/api/v1/members", json=member_body(branch, **overrides), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def outflow_body(**overrides) -> dict:
    body = {
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区灵芝街道",
        "occupation": "建筑工人",
        "employer": "绍兴某建设公司",
        "departed_on": (date.today() - timedelta(days=3)).isoformat(),
        "expected_return_on": (date.today() + timedelta(days=300)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
    }
    body.update(overrides)
    return body


def events_of(migrated, member_id: str, event_type: str) -> list[dict]:
    with migrated("registration").reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == member_id, outbox.table.c.event_type == event_type
            )
        ).all()
    return [json.loads(body) for body in bodies]


# --- members ------------------------------------------------------------------------------


def test_member_body_rules_name_their_field(client):
    codes = org_tree(client, ADMIN)
    secretary = bearer("branch_secretary", codes["branch"])
    cases = {
        "birth_date": {"birth_date": "not-a-date"},
        "phone": {"phone": "12345678901"},
        "joined_on": {"joined_on": "2005-01-01"},  # before the 18th birthday (born 1990)
        "dues_paid_through": {"dues_paid_through": (date.today() + timedelta(days=62)).strftime("%Y-%m")},
        "gender": {"gender": 1},
        "status": {"status": "honorary"},
        "branch_code": {"branch_code": codes["township"]},
        "nickname": {"nickname": "x"},
    }
    for field, override in cases.items():
        response = client.post(
            "/api/v1/members", json={**member_body(codes["branch"]), **override}, headers=secretary
        )
        assert response.status_code == 422, (field, response.get_json())
        assert field in response.get_json()["errors"]["json"], (field, response.get_json())
    future = client.post(
        "/api/v1/members",
        json=member_body(codes["branch"], joined_on=(date.today() + timedelta(days=1)).isoformat()),
        headers=secretary,
    )
    assert future.status_code == 422 and "joined_on" in future.get_json()["errors"]["json"]
    birth_mismatch = client.post(
        "/api/v1/members", json=member_body(codes["branch"], birth_date="1991-05-17"), headers=secretary
    )
    assert birth_mismatch.status_code == 422 and "birth_date" in birth_mismatch.get_json()["errors"]["json"]
    assert client.post("/api/v1/members", json=member_body(codes["branch"])).status_code == 401
    as_member = client.post(
        "/api/v1/members", json=member_body(codes["branch"]), headers=bearer("member", codes["branch"])
    )
    assert as_member.status_code == 403


def test_duplicate_id_number_conflicts_and_idempotent_replay_creates_once(client, migrated):
    codes = org_tree(client, ADMIN)
    body = member_body(codes["branch"])
    headers = {**ADMIN, "Idempotency-Key": unique_code("K")}
    first = client.post("/api/v1/members", json=body, headers=headers)
    replay = client.post("/api/v1/members", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert first.get_json()["id"] == replay.get_json()["id"]
    with migrated("registration").reader() as session:
        assert session.scalar(select(func.count()).where(Member.id_number == body["id_number"])) == 1
    again = client.post("/api/v1/members", json=body, headers=ADMIN)
    assert again.status_code == 409


def test_member_read_scope_masking_and_audit(client, migrated):
    codes = org_tree(client, ADMIN)
    body = member_body(codes["branch"])
    member = new_member(client, codes["branch"], id_number=body["id_number"], phone=body["phone"])
    url = f"/api/v1/members/{member['id']}"
    for headers in (
        bearer("member", codes["branch"], sub=member["id"]),
        bearer("branch_secretary", codes["branch"]),
        bearer("township_officer", codes["township"]),
        bearer("org_department", codes["county"]),
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["id_number"] == body["id_number"]
    fellow = client.get(url, headers=bearer("member", codes["branch"], sub="fellow"))
    assert fellow.status_code == 200
    assert fellow.get_json()["id_number"] != body["id_number"] and "*" in fellow.get_json()["id_number"]
    assert fellow.get_json()["phone"] == body["phone"][:3] + "****" + body["phone"][-4:]
    other = org_tree(client, ADMIN)
    assert client.get(url, headers=bearer("branch_secretary", other["branch"])).status_code == 403
    assert client.get(url, headers=bearer("member", other["branch"], sub="stranger")).status_code == 403
    assert client.get("/api/v1/members/no-such-member", headers=ADMIN).status_code == 404
    assert client.get(url).status_code == 401
    with migrated("registration").reader() as session:
        reads = session.execute(
            select(audit_log.c.actor_role).where(
                audit_log.c.object_id == member["id"], audit_log.c.action == "read_full"
            )
        ).all()
    assert {row.actor_role for row in reads} == {
        "member",
        "branch_secretary",
        "township_officer",
        "org_department",
    }


def test_masked_member_read_keeps_the_scope_and_is_not_audited(client, migrated):
    codes = org_tree(client, ADMIN)
    body = member_body(codes["branch"])
    member = new_member(client, codes["branch"], id_number=body["id_number"], phone=body["phone"])
    url = f"/api/v1/members/{member['id']}?masked=true"
    service = bearer("service", "CN", sub="transfer")
    masked = client.get(url, headers=service)
    assert masked.status_code == 200, masked.get_json()
    record = masked.get_json()
    assert "*" in record["id_number"] and record["id_number"] != body["id_number"]
    assert record["phone"] == body["phone"][:3] + "****" + body["phone"][-4:]
    assert (record["name"], record["branch_code"]) == (member["name"], codes["branch"])
    assert client.get(url, headers=bearer("member", codes["branch"], sub="fellow")).status_code == 200
    other = org_tree(client, ADMIN)
    assert client.get(url, headers=bearer("branch_secretary", other["branch"])).status_code == 403
    assert client.get("/api/v1/members/no-such-member?masked=true", headers=service).status_code == 404
    bad = client.get(f"/api/v1/members/{member['id']}?masked=perhaps", headers=service)
    assert bad.status_code == 422 and "masked" in bad.get_json()["errors"]["query"]
    with migrated("registration").reader() as session:
        reads = session.scalar(
            select(func.count()).where(
                audit_log.c.object_id == member["id"], audit_log.c.action == "read_full"
            )
        )
    assert reads == 0


def test_member_list_filters_masks_and_pages(client):
    codes = org_tree(client, ADMIN)
    second_branch = client.post(
        "/api/v1/orgs",
        json={
            "code": unique_code("BR"),
            "name": "二支部",
            "level": "branch",
            "parent_code": codes["township"],
        },
        headers=ADMIN,
    ).get_json()["code"]
    created = [new_member(client, codes["branch"]) for _ in range(3)] + [new_member(client, second_branch)]
    client.post(f"/api/v1/members/{created[0]['id']}/outflows", json=outflow_body(), headers=ADMIN)

    officer = bearer("township_officer", codes["township"])
    everyone = client.get(f"/api/v1/members?branch={codes['township']}&limit=200", headers=officer).get_json()
    assert {m["id"] for m in everyone["items"]} == {m["id"] for m in created}
    assert all("*" in m["id_number"] and "*" in m["phone"] for m in everyone["items"])
    one_branch = client.get(f"/api/v1/members?branch={second_branch}", headers=officer).get_json()
    assert [m["id"] for m in one_branch["items"]] == [created[3]["id"]]
    mobile = client.get(f"/api/v1/members?branch={codes['township']}&mobile=true", headers=officer).get_json()
    assert [m["id"] for m in mobile["items"]] == [created[0]["id"]]
    assert mobile["items"][0]["six_facts"]["occupation"] == "建筑工人"
    # Default scope is the caller's own subtree; keyset pages follow creation order.
    first = client.get("/api/v1/members?limit=2", headers=officer).get_json()
    second = client.get(f"/api/v1/members?limit=2&cursor={first['next_cursor']}", headers=officer).get_json()
    assert [m["id"] for m in first["items"] + second["items"]] == [m["id"] for m in created]
    assert second["next_cursor"] is None

    assert (
        client.get(
            f"/api/v1/members?branch={codes['branch']}", headers=bearer("branch_secretary", second_branch)
        ).status_code
        == 403
    )
    assert client.get("/api/v1/members", headers=bearer("member", codes["branch"])).status_code == 403
    assert client.get("/api/v1/members?branch=NOPE-NOPE", headers=ADMIN).status_code == 404
    bad = client.get("/api/v1/members?mobile=perhaps&limit=0", headers=ADMIN)
    assert bad.status_code == 422 and {"mobile", "limit"} <= set(bad.get_json()["errors"]["query"])
    assert client.get("/api/v1/members?cursor=garbage", headers=ADMIN).status_code == 422


# --- outflows, inflows, mobility ------------------------------------------------------------


def test_outflow_issues_sequential_card_numbers_per_county(client, migrated):
    codes = org_tree(client, ADMIN)
    first, second = new_member(client, codes["branch"]), new_member(client, codes["branch"])
    me = bearer("member", codes["branch"], sub=first["id"])
    response = client.post(f"/api/v1/members/{first['id']}/outflows", json=outflow_body(), headers=me)
    assert response.status_code == 201, response.get_json()
    card = response.get_json()["activity_card_no"]
    short = codes["county"].rsplit("-", 1)[-1]
    assert card == f"{short}-{date.today().year}-000001"
    secretary = bearer("branch_secretary", codes["branch"])
    following = client.post(
        f"/api/v1/members/{second['id']}/outflows", json=outflow_body(), headers=secretary
    )
    assert following.get_json()["activity_card_no"] == f"{short}-{date.today().year}-000002"

    member = client.get(f"/api/v1/members/{first['id']}", headers=me).get_json()
    assert member["mobile"] is True
    assert member["six_facts"]["departed_on"] == outflow_body()["departed_on"]
    assert member["six_facts"]["current_address"] == outflow_body()["destination_address"]
    assert member["six_facts"]["contact_phone"] == "13912345678"
    events = events_of(migrated, first["id"], "registration.outflow_registered.v1")
    assert len(events) == 1 and events[0]["data"]["activity_card_no"] == card


def test_outflow_errors(client):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    url = f"/api/v1/members/{member['id']}/outflows"
    bad_phone = client.post(url, json=outflow_body(contact_phone="02212345678"), headers=ADMIN)
    assert bad_phone.status_code == 422 and "contact_phone" in bad_phone.get_json()["errors"]["json"]
    backwards = client.post(
        url,
        json=outflow_body(expected_return_on=(date.today() - timedelta(days=30)).isoformat()),
        headers=ADMIN,
    )
    assert backwards.status_code == 422 and "expected_return_on" in backwards.get_json()["errors"]["json"]
    wrong_types = client.post(url, json=outflow_body(departed_on=5, reason=None, color="red"), headers=ADMIN)
    assert wrong_types.status_code == 422
    assert {"departed_on", "reason", "color"} <= set(wrong_types.get_json()["errors"]["json"])
    assert (
        client.post("/api/v1/members/nobody/outflows", json=outflow_body(), headers=ADMIN).status_code == 404
    )
    assert client.post(url, json=outflow_body()).status_code == 401
    other = org_tree(client, ADMIN)
    assert (
        client.post(url, json=outflow_body(), headers=bearer("branch_secretary", other["branch"])).status_code
        == 403
    )
    assert (
        client.post(url, json=outflow_body(), headers=bearer("member", codes["branch"], sub="x")).status_code
        == 403
    )
    keyed = {**ADMIN, "Idempotency-Key": unique_code("K")}
    first = client.post(url, json=outflow_body(), headers=keyed)
    replay = client.post(url, json=outflow_body(), headers=keyed)
    assert first.status_code == replay.status_code == 201
    assert first.get_json()["activity_card_no"] == replay.get_json()["activity_card_no"]


def test_inflow_at_the_receiving_branch_and_mobility_history(client, migrated):
    home = org_tree(client, ADMIN)
    away = org_tree(client, ADMIN)
    member = new_member(client, home["branch"])
    outflow = client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN)
    inflow = {
        "branch_code": away["branch"],
        "arrived_on": date.today().isoformat(),
        "current_address": "北京市朝阳区望京街道",
        "occupation": "快递员",
        "contact_person": "王书记",
        # The card the member presents on arrival (a secretary's inflow needs it).
        "activity_card_no": outflow.get_json()["activity_card_no"],
    }
    url = f"/api/v1/members/{member['id']}/inflows"
    assert (
        client.post(url, json=inflow, headers=bearer("branch_secretary", home["branch"])).status_code == 403
    )
    response = client.post(url, json=inflow, headers=bearer("branch_secretary", away["branch"]))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["contact_person"] == "王书记"
    event = events_of(migrated, member["id"], "registration.inflow_registered.v1")[0]["data"]
    assert event["branch_code"] == away["branch"] and event["home_branch_code"] == home["branch"]

    history = client.get(
        f"/api/v1/members/{member['id']}/mobility", headers=bearer("member", home["branch"], sub=member["id"])
    )
    assert history.status_code == 200
    assert [entry["kind"] for entry in history.get_json()["items"]] == ["inflow", "outflow"]
    facts = client.get(f"/api/v1/members/{member['id']}", headers=ADMIN).get_json()["six_facts"]
    assert facts["occupation"] == "快递员" and facts["current_address"] == "北京市朝阳区望京街道"

    future = client.post(
        url, json={**inflow, "arrived_on": (date.today() + timedelta(days=5)).isoformat()}, headers=ADMIN
    )
    assert future.status_code == 422 and "arrived_on" in future.get_json()["errors"]["json"]
    not_branch = client.post(url, json={**inflow, "branch_code": away["township"]}, headers=ADMIN)
    assert not_branch.status_code == 422 and "branch_code" in not_branch.get_json()["errors"]["json"]
    assert client.post("/api/v1/members/nobody/inflows", json=inflow, headers=ADMIN).status_code == 404
    assert client.get("/api/v1/members/nobody/mobility", headers=ADMIN).status_code == 404


# --- check-ins ------------------------------------------------------------------------------


def test_checkins_clear_lost_contact_and_list_by_scope(client, migrated):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    with migrated("registration").transaction() as session:
        session.get(Member, member["id"]).lost_contact = True
    earlier = "2026-01-05T08:00:00+08:00"
    secretary = bearer("branch_secretary", codes["branch"])
    survey = client.post(
        "/api/v1/checkins",
        json={
            "member_id": member["id"],
            "branch_code": codes["branch"],
            "kind": "grid_survey",
            "occurred_at": earlier,
        },
        headers=secretary,
    )
    assert survey.status_code == 201, survey.get_json()
    assert client.get(f"/api/v1/members/{member['id']}", headers=ADMIN).get_json()["lost_contact"] is False
    me = bearer("member", codes["branch"], sub=member["id"])
    client.post(
        "/api/v1/checkins",
        json={"member_id": member["id"], "branch_code": codes["branch"], "kind": "self"},
        headers=me,
    )

    mine = client.get("/api/v1/checkins", headers=me).get_json()["items"]
    assert [c["kind"] for c in mine] == ["grid_survey", "self"]
    by_branch = client.get(f"/api/v1/checkins?branch={codes['branch']}", headers=secretary).get_json()[
        "items"
    ]
    assert len(by_branch) == 2
    since = client.get(
        f"/api/v1/checkins?member_id={member['id']}&since=2026-02-01T00:00:00Z", headers=secretary
    )
    assert [c["kind"] for c in since.get_json()["items"]] == ["self"]
    other = org_tree(client, ADMIN)
    assert (
        client.get(
            f"/api/v1/checkins?branch={codes['branch']}", headers=bearer("branch_secretary", other["branch"])
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/checkins?member_id={member['id']}", headers=bearer("branch_secretary", other["branch"])
        ).status_code
        == 403
    )
    assert client.get("/api/v1/checkins?since=yesterday", headers=ADMIN).status_code == 422

    future = client.post(
        "/api/v1/checkins",
        json={
            "member_id": member["id"],
            "branch_code": codes["branch"],
            "kind": "self",
            "occurred_at": "2999-01-01T00:00:00Z",
        },
        headers=me,
    )
    assert future.status_code == 422 and "occurred_at" in future.get_json()["errors"]["json"]
    naive = client.post(
        "/api/v1/checkins",
        json={
            "member_id": member["id"],
            "branch_code": codes["branch"],
            "kind": "self",
            "occurred_at": "2026-01-01T00:00:00",
        },
        headers=me,
    )
    assert naive.status_code == 422 and "occurred_at" in naive.get_json()["errors"]["json"]
    unknown = client.post(
        "/api/v1/checkins",
        json={"member_id": "nobody", "branch_code": codes["branch"], "kind": "self"},
        headers=ADMIN,
    )
    assert unknown.status_code == 422 and "member_id" in unknown.get_json()["errors"]["json"]
    assert client.post("/api/v1/checkins", json={}, headers=bearer("org_department", "CN")).status_code == 403


# --- nearest branch -----------------------------------------------------------------------


def test_nearest_branch_prefers_the_deepest_region_match(client):
    county_region = f"9{unique_code('')[-5:].replace('-', '0')}"[:6].ljust(6, "0")
    county_region = "".join(ch if ch.isdigit() else "7" for ch in county_region)
    province = client.post(
        "/api/v1/orgs",
        json={
            "code": unique_code("PR"),
            "name": "省",
            "level": "province",
            "parent_code": "CN",
            "region": county_region[:2],
        },
        headers=ADMIN,
    ).get_json()["code"]
    county = client.post(
        "/api/v1/orgs",
        json={
            "code": unique_code("CO"),
            "name": "县",
            "level": "county",
            "parent_code": province,
            "region": county_region,
        },
        headers=ADMIN,
    ).get_json()["code"]
    township = client.post(
        "/api/v1/orgs",
        json={
            "code": unique_code("TW"),
            "name": "镇",
            "level": "township",
            "parent_code": county,
            "region": county_region + "001",
        },
        headers=ADMIN,
    ).get_json()["code"]
    near = client.post(
        "/api/v1/orgs",
        json={
            "code": unique_code("BR"),
            "name": "近",
            "level": "branch",
            "parent_code": township,
            "region": county_region + "001002",
        },
        headers=ADMIN,
    ).get_json()["code"]
    far = client.post(
        "/api/v1/orgs",
        json={
            "code": unique_code("BR"),
            "name": "远",
            "level": "branch",
            "parent_code": township,
            "region": county_region + "001",
        },
        headers=ADMIN,
    ).get_json()["code"]

    exact = client.get(f"/api/v1/orgs/nearest?region={county_region}001002", headers=ADMIN).get_json()
    assert [o["code"] for o in exact["items"]][0] == near
    street = client.get(f"/api/v1/orgs/nearest?region={county_region}001999", headers=ADMIN).get_json()
    assert street["matched_prefix"] == f"{county_region}001"
    assert {o["code"] for o in street["items"]} == {near, far}
    assert [o["code"] for o in street["items"]][0] == near  # deepest region first
    bad = client.get("/api/v1/orgs/nearest?region=abc", headers=ADMIN)
    assert bad.status_code == 422 and "region" in bad.get_json()["errors"]["query"]
    assert client.get(f"/api/v1/orgs/nearest?region={county_region}").status_code == 401


# --- ledger -------------------------------------------------------------------------------


def test_ledger_streams_csv_json_and_xlsx_of_a_subtree(client, migrated):
    codes = org_tree(client, ADMIN)
    mobile = [new_member(client, codes["branch"]) for _ in range(3)]
    settled = new_member(client, codes["branch"])
    for member in mobile:
        assert (
            client.post(
                f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN
            ).status_code
            == 201
        )
    officer = bearer("township_officer", codes["township"])

    response = client.get(f"/api/v1/ledger?org={codes['township']}&format=csv", headers=officer)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    # The people's csv: a title row, Chinese headers, masked by default (phones as in any list).
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("流动党员台账（")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert [row["手机号码"] for row in rows] == [m["phone"][:3] + "****" + m["phone"][-4:] for m in mobile]
    assert rows[0]["从事职业"] == "建筑工人" and rows[0]["联系电话"] == "139****5678"
    assert rows[0]["活动证号"].endswith("-000001")

    as_json = client.get(f"/api/v1/ledger?org={codes['county']}&format=json", headers=ADMIN).get_json()
    assert [item["member_id"] for item in as_json["items"]] == [m["id"] for m in mobile]
    assert settled["id"] not in {item["member_id"] for item in as_json["items"]}
    xlsx = client.get(f"/api/v1/ledger?org={codes['branch']}&format=xlsx", headers=ADMIN)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.get_data()), read_only=True).worksheets[0]
    assert len(list(sheet.iter_rows(values_only=True))) == 2 + len(mobile)  # title and header rows

    other = org_tree(client, ADMIN)
    assert (
        client.get(
            f"/api/v1/ledger?org={codes['township']}", headers=bearer("township_officer", other["township"])
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/ledger?org={codes['township']}", headers=bearer("member", codes["branch"])
        ).status_code
        == 403
    )
    assert client.get(f"/api/v1/ledger?org={codes['township']}").status_code == 401
    assert client.get("/api/v1/ledger?org=NOPE-NOPE", headers=ADMIN).status_code == 404
    bad = client.get(f"/api/v1/ledger?org={codes['township']}&format=pdf", headers=ADMIN)
    assert bad.status_code == 422 and "format" in bad.get_json()["errors"]["query"]
    with migrated("registration").reader() as session:
        assert (
            session.scalar(
                select(func.count()).where(
                    audit_log.c.action == "export_ledger", audit_log.c.object_id == codes["township"]
                )
            )
            == 1
        )


# --- imports ------------------------------------------------------------------------------


def csv_file(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def upload(client, branch: str, content: bytes, name: str, dry_run: bool, headers=ADMIN):
    return client.post(
        f"/api/v1/imports/members?branch={branch}&dry_run={'true' if dry_run else 'false'}",
        data={"file": (io.BytesIO(content), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def import_rows(branch: str, count: int) -> list[dict]:
    return [
        {k: v for k, v in member_body(branch, id_number=id_number()).items() if k != "branch_code"}
        for _ in range(count)
    ]


def test_import_dry_run_reports_every_row_and_writes_nothing(client, migrated):
    codes = org_tree(client, ADMIN)
    rows = import_rows(codes["branch"], 4)
    rows[1]["id_number"] = rows[1]["id_number"][:17] + ("0" if rows[1]["id_number"][17] != "0" else "1")
    rows[3]["joined_on"] = "1999-01-01"
    rows[3]["phone"] = "123"
    response = upload(client, codes["branch"], csv_file(rows), "ledger.csv", dry_run=True)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["rows"] == 4 and body["valid"] == 2
    # Every problem of a row, not just its first: row 4 breaks the phone format and the age rule.
    assert {(e["row"], e["field"]) for e in body["errors"]} == {
        (2, "id_number"),
        (4, "phone"),
        (4, "joined_on"),
    }
    with migrated("registration").reader() as session:
        assert session.scalar(select(func.count()).where(Member.branch_code == codes["branch"])) == 0

    real = upload(client, codes["branch"], csv_file(rows), "ledger.csv", dry_run=False)
    assert real.status_code == 422
    assert {(e["row"], e["field"]) for e in real.get_json()["errors"]["file"]} == {
        (2, "id_number"),
        (4, "phone"),
        (4, "joined_on"),
    }
    with migrated("registration").reader() as session:
        assert session.scalar(select(func.count()).where(Member.branch_code == codes["branch"])) == 0


def test_import_xlsx_is_all_or_nothing_and_reimport_creates_nothing(client, migrated):
    codes = org_tree(client, ADMIN)
    rows = import_rows(codes["branch"], 5)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(rows[0]))
    for row in rows:
        # Spreadsheets hold real dates; the importer turns them back into the API's forms.
        sheet.append(
            [date.fromisoformat(v) if k in ("birth_date", "joined_on") else v for k, v in row.items()]
        )
    content = io.BytesIO()
    workbook.save(content)
    secretary = bearer("branch_secretary", codes["branch"])
    first = upload(
        client, codes["branch"], content.getvalue(), "ledger.xlsx", dry_run=False, headers=secretary
    )
    assert first.status_code == 201, first.get_json()
    assert first.get_json() == {"rows": 5, "created": 5, "existing": 0, "errors": []}
    again = upload(
        client, codes["branch"], content.getvalue(), "ledger.xlsx", dry_run=False, headers=secretary
    )
    assert again.status_code == 201 and again.get_json()["created"] == 0 and again.get_json()["existing"] == 5
    with migrated("registration").reader() as session:
        assert session.scalar(select(func.count()).where(Member.branch_code == codes["branch"])) == 5
        created = session.scalar(
            select(func.count()).where(
                outbox.table.c.event_type == "registration.member_created.v1",
                outbox.table.c.body.like(f"%{codes['branch']}%"),
            )
        )
    assert created == 5


def test_import_errors(client):
    codes = org_tree(client, ADMIN)
    good = csv_file(import_rows(codes["branch"], 1))
    other = org_tree(client, ADMIN)
    assert (
        upload(
            client, codes["branch"], good, "a.csv", True, headers=bearer("branch_secretary", other["branch"])
        ).status_code
        == 403
    )
    assert upload(client, codes["branch"], good, "a.csv", True, headers={}).status_code == 401
    bad_header = upload(client, codes["branch"], b"name,colour\nx,y\n", "a.csv", True)
    assert bad_header.status_code == 422 and "file" in bad_header.get_json()["errors"]["files"]
    not_branch = upload(client, codes["township"], good, "a.csv", True)
    assert not_branch.status_code == 422 and "branch" in not_branch.get_json()["errors"]["query"]
    broken_xlsx = upload(client, codes["branch"], b"PK\x03\x04 not really a zip", "a.xlsx", True)
    assert broken_xlsx.status_code == 422
    no_file = client.post(f"/api/v1/imports/members?branch={codes['branch']}", headers=ADMIN)
    assert no_file.status_code == 422 and "file" in no_file.get_json()["errors"]["files"]
    duplicate = import_rows(codes["branch"], 2)
    duplicate[1]["id_number"] = duplicate[0]["id_number"]
    repeated = upload(client, codes["branch"], csv_file(duplicate), "a.csv", True).get_json()
    assert [(e["row"], e["field"]) for e in repeated["errors"]] == [(2, "id_number")]
    # Data row 2 is the sheet's row 3 (the header is row 1); the message names what people see.
    assert repeated["errors"][0]["message"] == "第 3 行 D 列「公民身份号码」：与第 2 行的公民身份号码重复"


def test_concurrent_outflows_get_distinct_consecutive_card_numbers(client, migrated):
    from concurrent.futures import ThreadPoolExecutor

    from services.registration import commands
    from services.registration.unit_of_work import RegistrationUnitOfWork
    from shared.auth import Principal

    codes = org_tree(client, ADMIN)
    members = [new_member(client, codes["branch"])["id"] for _ in range(12)]
    database = migrated("registration")
    admin = Principal(sub="admin", role="admin", org="CN")
    body = {**outflow_body(), "departed_on": date.today(), "expected_return_on": None}

    def report(member_id: str) -> str:
        command = commands.RegisterOutflow(member_id=member_id, **body)
        return commands.register_outflow(RegistrationUnitOfWork(database), admin, command).activity_card_no

    with ThreadPoolExecutor(max_workers=6) as pool:
        cards = list(pool.map(report, members))
    serials = sorted(int(card.rsplit("-", 1)[1]) for card in cards)
    assert serials == list(range(1, len(members) + 1))


def test_import_idempotency_key_tells_a_dry_run_from_a_real_import_and_replays_a_retried_upload(
    client, migrated
):
    codes = org_tree(client, ADMIN)
    content = csv_file(import_rows(codes["branch"], 2))
    keyed = {**ADMIN, "Idempotency-Key": unique_code("K")}
    dry = upload(client, codes["branch"], content, "ledger.csv", dry_run=True, headers=keyed)
    assert dry.status_code == 200, dry.get_json()
    # The same key and file with another query is another request, not a replay of the dry run.
    real = upload(client, codes["branch"], content, "ledger.csv", dry_run=False, headers=keyed)
    assert real.status_code == 409 and "Idempotent-Replayed" not in real.headers

    keyed = {**ADMIN, "Idempotency-Key": unique_code("K")}
    first = upload(client, codes["branch"], content, "ledger.csv", dry_run=False, headers=keyed)
    assert first.status_code == 201, first.get_json()
    # A retried upload is encoded with a new multipart boundary, yet it is the same request.
    again = upload(client, codes["branch"], content, "ledger.csv", dry_run=False, headers=keyed)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    with migrated("registration").reader() as session:
        assert session.scalar(select(func.count()).where(Member.branch_code == codes["branch"])) == 2
