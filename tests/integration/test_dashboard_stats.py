"""The dashboards' figures from registration (issue 22): the breakdown of a subtree by child org
and the flows by province, over HTTP on the real database; each figure agrees with the list the
console links it to (the member list with the same filters)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update

from services.registration.app import create_app
from services.registration.models import Member
from shared.clock import current_month
from tests.support.builders import member_body, org_tree, unique_code
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


def new_org(client, level: str, parent: str, name: str) -> str:
    code = unique_code(level[:2].upper())
    body = {"code": code, "name": name, "level": level, "parent_code": parent}
    assert client.post("/api/v1/orgs", json=body, headers=ADMIN).status_code == 201
    return code


def away(client, member_id: str, region: str) -> str:
    body = {
        "destination_region": region,
        "destination_address": "外地",
        "occupation": "建筑工人",
        "departed_on": (date.today() - timedelta(days=3)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
    }
    response = client.post(f"{MEMBERS}/{member_id}/outflows", json=body, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["activity_card_no"]


def months_ago(count: int) -> str:
    year, month = (int(part) for part in current_month().split("-"))
    index = year * 12 + month - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@pytest.fixture(scope="module")
def county(client, database) -> dict[str, str]:
    """A county with two townships; the first has two branches. Members: mobile, lost, behind on
    dues, removed (counted nowhere), and one arriving from another province."""
    codes = org_tree(client, ADMIN)
    second_branch = new_org(client, "branch", codes["township"], "第二支部")
    other_township = new_org(client, "township", codes["county"], "东城街道")
    other_branch = new_org(client, "branch", other_township, "东城支部")
    gone = new_member(client, codes["branch"], name="甲")
    away(client, gone["id"], "330602")
    lost = new_member(client, codes["branch"], name="乙", dues_paid_through=months_ago(2))
    away(client, lost["id"], "330102")
    new_member(client, second_branch, name="丙", dues_paid_through=months_ago(1))
    new_member(client, second_branch, name="丁")
    far = new_member(client, other_branch, name="戊")
    away(client, far["id"], "110105")
    removed = new_member(client, other_branch, name="己", dues_paid_through=months_ago(3))
    with database.transaction() as session:
        session.execute(update(Member).where(Member.id == lost["id"]).values(lost_contact=True))
        session.execute(update(Member).where(Member.id == removed["id"]).values(standing="removed"))
    # Someone from another province registers an arrival at the first branch (双向管理).
    elsewhere = org_tree(client, ADMIN)
    visitor = new_member(client, elsewhere["branch"], name="庚")
    card = away(client, visitor["id"], "330602")
    inflow = {"branch_code": codes["branch"], "arrived_on": date.today().isoformat(),
              "current_address": "本地", "occupation": "快递员", "activity_card_no": card}  # fmt: skip
    assert client.post(f"{MEMBERS}/{visitor['id']}/inflows", json=inflow, headers=ADMIN).status_code == 201
    return {**codes, "other_township": other_township, "elsewhere_province": elsewhere["province"]}


def test_the_breakdown_counts_each_child_org_and_the_totals(client, county):
    month = current_month()
    answer = client.get(
        f"/api/v1/stats/breakdown?org={county['county']}&month={month}",
        headers=bearer("org_department", county["county"]),
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["org"] == county["county"] and body["month"] == month and body["dues_month"] == month
    assert body["totals"] == {"members": 5, "mobile_members": 3, "reached": 0, "not_reached": 3,
                              "lost_contact": 1, "dues_behind": 2}  # fmt: skip
    by_code = {item["org_code"]: item for item in body["items"]}
    assert set(by_code) == {county["township"], county["other_township"]}
    first = by_code[county["township"]]
    assert (first["members"], first["mobile_members"], first["lost_contact"], first["dues_behind"]) == (4, 2, 1, 2)
    assert first["level"] == "township" and first["name"] == f"township {county['township']}"
    second = by_code[county["other_township"]]
    assert (second["name"], second["members"], second["mobile_members"], second["dues_behind"]) == ("东城街道", 1, 1, 0)
    # The totals agree with coverage, which the dashboard showed before.
    coverage = client.get(f"/api/v1/stats/coverage?org={county['county']}&month={month}", headers=ADMIN).get_json()
    assert {key: body["totals"][key] for key in ("mobile_members", "reached", "not_reached", "lost_contact")} == {
        key: coverage[key] for key in ("mobile_members", "reached", "not_reached", "lost_contact")
    }


def test_a_branch_has_totals_and_no_children(client, county):
    answer = client.get(
        f"/api/v1/stats/breakdown?org={county['branch']}&month={current_month()}",
        headers=bearer("branch_secretary", county["branch"]),
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["items"] == []
    assert answer.get_json()["totals"]["members"] == 2 and answer.get_json()["totals"]["dues_behind"] == 1


def test_each_figure_matches_the_list_it_links_to(client, county):
    """The console links 欠缴党费 to the member list with dues_behind=true, 失联 to mobile and
    lost, 流动党员 to mobile: the list holds exactly as many members as the figure says."""
    month = current_month()
    headers = bearer("township_officer", county["township"])
    totals = client.get(f"/api/v1/stats/breakdown?org={county['township']}&month={month}", headers=headers)
    figures = totals.get_json()["totals"]
    for figure, query in (("dues_behind", "dues_behind=true"), ("lost_contact", "mobile=true&lost_contact=true"),
                          ("mobile_members", "mobile=true"), ("not_reached", f"mobile=true&not_reached_in={month}")):  # fmt: skip
        listed = client.get(f"{MEMBERS}?org={county['township']}&{query}&limit=100", headers=headers)
        assert listed.status_code == 200, listed.get_json()
        assert len(listed.get_json()["items"]) == figures[figure], figure
    behind = client.get(f"{MEMBERS}?org={county['county']}&dues_behind=true&limit=100", headers=ADMIN).get_json()
    assert sorted(item["name"] for item in behind["items"]) == ["丙", "乙"]  # the removed 己 owes nothing


def test_flows_count_destinations_and_origins_by_province(client, county):
    answer = client.get(f"/api/v1/stats/flows?org={county['county']}", headers=bearer("org_department", county["county"]))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["outflows"] == [
        {"code": "330000", "name": "浙江省", "count": 2},
        {"code": "110000", "name": "北京市", "count": 1},
    ]
    assert body["inflows"] == [
        {"code": county["elsewhere_province"], "name": f"province {county['elsewhere_province']}", "count": 1}
    ]
    township = client.get(f"/api/v1/stats/flows?org={county['other_township']}", headers=ADMIN).get_json()
    assert township["outflows"] == [{"code": "110000", "name": "北京市", "count": 1}] and township["inflows"] == []


@pytest.mark.parametrize("path", ["breakdown", "flows"])
def test_the_figures_stay_in_scope_and_refuse_unknown_parameters(client, county, path):
    month = f"&month={current_month()}" if path == "breakdown" else ""
    url = f"/api/v1/stats/{path}?org={county['county']}{month}"
    assert client.get(url, headers=bearer("township_officer", county["township"])).status_code == 403
    assert client.get(url, headers=bearer("branch_secretary", county["branch"])).status_code == 403
    assert client.get(url, headers=bearer("member", county["branch"])).status_code == 403
    assert client.get(url).status_code == 401
    for bad, field in ((url + "&extra=1", "extra"), (f"/api/v1/stats/{path}?org=bad%20code{month}", "org"),
                       (f"/api/v1/stats/{path}?{month.lstrip('&')}", "org")):  # fmt: skip
        refused = client.get(bad, headers=ADMIN)
        assert refused.status_code == 422 and field in refused.get_json()["errors"]["query"], bad
    missing = client.get(f"/api/v1/stats/{path}?org=NOPE-{unique_code('X')}{month}", headers=ADMIN)
    assert missing.status_code == 404
    if path == "breakdown":
        bad = client.get(f"/api/v1/stats/breakdown?org={county['county']}&month=2026-13", headers=ADMIN)
        assert bad.status_code == 422 and "month" in bad.get_json()["errors"]["query"]
    assert client.get(f"{MEMBERS}?dues_behind=maybe", headers=ADMIN).status_code == 422
