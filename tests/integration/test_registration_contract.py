"""The internal contract with the transfer service: routes between branches and relationship moves."""

import pytest
from sqlalchemy import select

from services.registration.app import create_app
from services.registration.models import outbox
from tests.support.builders import member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer

SERVICE = bearer("service", "CN", "svc:transfer")


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def add_org(client, level: str, parent: str, region: str | None = None) -> str:
    code = unique_code(level[:2].upper())
    body = {"code": code, "name": f"{level} {code}", "level": level, "parent_code": parent}
    if region:
        body["region"] = region
    response = client.post("/api/v1/orgs", json=body, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return code


def test_route_classes_and_ancestors_by_level(client):
    home = org_tree(client, ADMIN)  # province → county → township → branch (no city)
    sibling = add_org(client, "branch", home["township"])
    other_county = add_org(client, "county", home["province"])
    far_branch = add_org(client, "branch", add_org(client, "township", other_county))
    elsewhere = org_tree(client, ADMIN)

    same = client.get(f"/api/v1/orgs/route?from={home['branch']}&to={sibling}", headers=SERVICE)
    assert same.status_code == 200, same.get_json()
    body = same.get_json()
    assert body["route"] == "same_county"
    assert body["from"] == {
        "branch": home["branch"],
        "township": home["township"],
        "county": home["county"],
        "city": None,
        "province": home["province"],
    }
    assert body["to"]["branch"] == sibling
    cross = client.get(f"/api/v1/orgs/route?from={home['branch']}&to={far_branch}", headers=SERVICE)
    assert cross.get_json()["route"] == "cross_county"
    assert cross.get_json()["to"]["county"] == other_county
    far = client.get(f"/api/v1/orgs/route?from={home['branch']}&to={elsewhere['branch']}", headers=ADMIN)
    assert far.get_json()["route"] == "cross_province"


def test_route_names_the_bad_side(client):
    home = org_tree(client, ADMIN)
    not_a_branch = client.get(
        f"/api/v1/orgs/route?from={home['township']}&to={home['branch']}", headers=SERVICE
    )
    assert not_a_branch.status_code == 422
    assert "from" in not_a_branch.get_json()["errors"]["query"]
    unknown = client.get(f"/api/v1/orgs/route?from={home['branch']}&to=NO-SUCH-BRANCH", headers=SERVICE)
    assert unknown.status_code == 422
    assert "to" in unknown.get_json()["errors"]["query"]
    missing = client.get(f"/api/v1/orgs/route?from={home['branch']}", headers=SERVICE)
    assert missing.status_code == 422
    assert "to" in missing.get_json()["errors"]["query"]
    assert client.get(f"/api/v1/orgs/route?from={home['branch']}&to={home['branch']}").status_code == 401


def moved_events(migrated, member_id: str) -> list[str]:
    with migrated("registration").reader() as session:
        return session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == member_id,
                outbox.table.c.event_type == "registration.relationship_moved.v1",
            )
        ).all()


def test_relationship_move_is_idempotent_by_transfer_id(client, migrated):
    home = org_tree(client, ADMIN)
    target = org_tree(client, ADMIN)
    member = client.post("/api/v1/members", json=member_body(home["branch"]), headers=ADMIN).get_json()
    transfer_id = unique_code("T")
    url = f"/api/v1/members/{member['id']}/relationship"
    body = {"branch_code": target["branch"], "transfer_id": transfer_id}

    first = client.post(url, json=body, headers=SERVICE)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["branch_code"] == target["branch"]
    # The mover is told the new branch; the member's ID and phone numbers stay masked.
    assert "*" in first.get_json()["id_number"] and "*" in first.get_json()["phone"]
    again = client.post(url, json=body, headers=SERVICE)
    assert again.status_code == 200
    assert again.get_json()["branch_code"] == target["branch"]
    events = moved_events(migrated, member["id"])
    assert len(events) == 1 and transfer_id in events[0] and home["branch"] in events[0]

    elsewhere = client.post(url, json={**body, "branch_code": home["branch"]}, headers=SERVICE)
    assert elsewhere.status_code == 409
    # The member is now visible from the new branch's secretary, and no longer from the old one.
    new_secretary = bearer("branch_secretary", target["branch"])
    assert client.get(f"/api/v1/members/{member['id']}", headers=new_secretary).status_code == 200
    old_secretary = bearer("branch_secretary", home["branch"])
    assert client.get(f"/api/v1/members/{member['id']}", headers=old_secretary).status_code == 403


def test_relationship_move_errors(client):
    home = org_tree(client, ADMIN)
    member = client.post("/api/v1/members", json=member_body(home["branch"]), headers=ADMIN).get_json()
    url = f"/api/v1/members/{member['id']}/relationship"
    body = {"branch_code": home["township"], "transfer_id": unique_code("T")}
    not_branch = client.post(url, json=body, headers=SERVICE)
    assert not_branch.status_code == 422
    assert "branch_code" in not_branch.get_json()["errors"]["json"]
    unknown_member = client.post(
        "/api/v1/members/nobody/relationship", json={**body, "branch_code": home["branch"]}, headers=SERVICE
    )
    assert unknown_member.status_code == 404
    assert client.post(url, json={**body, "branch_code": home["branch"]}, headers=ADMIN).status_code == 403
    assert client.post(url, json={**body, "branch_code": home["branch"]}).status_code == 401
    wrong_types = client.post(url, json={"branch_code": 5, "transfer_id": None, "x": 1}, headers=SERVICE)
    assert wrong_types.status_code == 422
    assert set(wrong_types.get_json()["errors"]["json"]) == {"branch_code", "transfer_id", "x"}


def test_service_reads_the_full_member(client):
    home = org_tree(client, ADMIN)
    body = member_body(home["branch"])
    member = client.post("/api/v1/members", json=body, headers=ADMIN).get_json()
    full = client.get(f"/api/v1/members/{member['id']}", headers=SERVICE).get_json()
    assert full["id_number"] == body["id_number"]
    assert {"name", "branch_code", "dues_paid_through", "mobile", "status"} <= set(full)


def test_org_lists_children_and_subtrees(client):
    home = org_tree(client, ADMIN)
    second_branch = add_org(client, "branch", home["township"])
    children = client.get(f"/api/v1/orgs?parent={home['township']}", headers=ADMIN).get_json()
    assert {o["code"] for o in children["items"]} == {home["branch"], second_branch}
    subtree = client.get(f"/api/v1/orgs?under={home['province']}&limit=2", headers=ADMIN).get_json()
    rest = client.get(
        f"/api/v1/orgs?under={home['province']}&cursor={subtree['next_cursor']}", headers=ADMIN
    ).get_json()
    assert {o["code"] for o in subtree["items"] + rest["items"]} == {
        home["county"],
        home["township"],
        home["branch"],
        second_branch,
    }
    branches = client.get(f"/api/v1/orgs?under={home['province']}&level=branch", headers=ADMIN).get_json()
    assert {o["code"] for o in branches["items"]} == {home["branch"], second_branch}
    assert client.get("/api/v1/orgs?under=NO-SUCH", headers=ADMIN).status_code == 404
    assert client.get("/api/v1/orgs?level=galaxy", headers=ADMIN).status_code == 422
    assert client.get("/api/v1/orgs/NO-SUCH", headers=ADMIN).status_code == 404
    scoped = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("BR"), "name": "x", "level": "branch", "parent_code": home["township"]},
        headers=bearer("org_department", org_tree(client, ADMIN)["county"]),
    )
    assert scoped.status_code == 403
    inside = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("BR"), "name": "x", "level": "branch", "parent_code": home["township"]},
        headers=bearer("org_department", home["county"]),
    )
    assert inside.status_code == 201
