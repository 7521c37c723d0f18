"""The registration slice over HTTP (Flask test client) on the real database."""

import pytest
from sqlalchemy import select

from services.registration.app import create_app
from services.registration.models import outbox
from tests.support.builders import member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def test_org_created_with_its_path(client):
    codes = org_tree(client, ADMIN)
    response = client.get(f"/api/v1/orgs/{codes['branch']}", headers=ADMIN)
    assert response.status_code == 200
    body = response.get_json()
    assert body["path"] == ["CN", codes["province"], codes["county"], codes["township"], codes["branch"]]
    assert body["level"] == "branch"


def test_org_errors_name_the_field(client):
    bad_parent = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("X"), "name": "x", "level": "province", "parent_code": "NOPE"},
        headers=ADMIN,
    )
    assert bad_parent.status_code == 422
    assert "parent_code" in bad_parent.get_json()["errors"]["json"]
    codes = org_tree(client, ADMIN)
    not_below = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("X"), "name": "x", "level": "county", "parent_code": codes["township"]},
        headers=ADMIN,
    )
    assert not_below.status_code == 422
    assert "level" in not_below.get_json()["errors"]["json"]
    unknown_field = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("X"), "name": "x", "level": "province", "parent_code": "CN", "extra": 1},
        headers=ADMIN,
    )
    assert unknown_field.status_code == 422
    assert "extra" in unknown_field.get_json()["errors"]["json"]


def test_auth_is_required_and_roles_checked(client):
    assert client.get("/api/v1/orgs/CN").status_code == 401
    assert client.get("/api/v1/orgs/CN", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    response = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("X"), "name": "x", "level": "province", "parent_code": "CN"},
        headers=bearer("member", "CN"),
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == 403


def test_member_create_validates_and_masks_nothing_for_its_secretary(client):
    codes = org_tree(client, ADMIN)
    secretary = bearer("branch_secretary", codes["branch"])
    body = member_body(codes["branch"])
    created = client.post("/api/v1/members", json=body, headers=secretary)
    assert created.status_code == 201, created.get_json()
    member = created.get_json()
    assert member["id_number"] == body["id_number"]
    bad = client.post(
        "/api/v1/members",
        json=member_body(
            codes["branch"], id_number=body["id_number"][:17] + ("1" if body["id_number"][17] != "1" else "2")
        ),
        headers=secretary,
    )
    assert bad.status_code == 422
    assert "id_number" in bad.get_json()["errors"]["json"]
    other = org_tree(client, ADMIN)
    outside = client.post(
        "/api/v1/members",
        json=member_body(codes["branch"]),
        headers=bearer("branch_secretary", other["branch"]),
    )
    assert outside.status_code == 403


def test_checkin_writes_its_event_in_the_same_transaction(client, migrated):
    codes = org_tree(client, ADMIN)
    member = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=ADMIN).get_json()
    me = bearer("member", codes["branch"], sub=member["id"])
    response = client.post(
        "/api/v1/checkins",
        json={"member_id": member["id"], "branch_code": codes["branch"], "kind": "self"},
        headers=me,
    )
    assert response.status_code == 201, response.get_json()
    checkin = response.get_json()
    with migrated("registration").reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(outbox.table.c.subject == member["id"])
        ).all()
    assert any(checkin["id"] in body for body in bodies)
    other_member = bearer("member", codes["branch"], sub="someone-else")
    assert (
        client.post(
            "/api/v1/checkins",
            json={"member_id": member["id"], "branch_code": codes["branch"], "kind": "self"},
            headers=other_member,
        ).status_code
        == 403
    )


def test_idempotency_key_replays_and_refuses_a_different_body(client):
    code = unique_code("IK")
    body = {"code": code, "name": "幂等", "level": "province", "parent_code": "CN"}
    headers = {**ADMIN, "Idempotency-Key": f"key-{code}"}
    first = client.post("/api/v1/orgs", json=body, headers=headers)
    again = client.post("/api/v1/orgs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    different = client.post("/api/v1/orgs", json={**body, "name": "另一个"}, headers=headers)
    assert different.status_code == 409


def test_health_and_openapi(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    spec = client.get("/openapi.json").get_json()
    assert "/api/v1/orgs" in spec["paths"]
    assert client.get("/metrics").status_code == 200
