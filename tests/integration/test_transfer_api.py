"""The transfer API's answers that need no Temporal: auth, validation, scope, 404; letter serials."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.transfer.activities import next_letter_sequence
from services.transfer.app import create_app
from services.transfer.service import build_plan
from tests.support.builders import unique_code
from tests.support.tokens import ADMIN, bearer
from tests.workflows.transfer_support import insert_projection, path_of, route_for


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("transfer")
    return create_app(settings_for("transfer")).test_client()


@pytest.fixture(scope="module")
def settings(settings_for):
    return settings_for("transfer")


def test_auth_and_validation_come_first(client):
    assert client.post("/api/v1/transfers", json={}).status_code == 401
    response = client.post(
        "/api/v1/transfers", json={"member_id": "x"}, headers=bearer("member", "BR-A", "x")
    )
    assert response.status_code == 422
    assert {"to_branch_code", "reason"} <= set(response.get_json()["errors"]["json"])
    lower = {"member_id": "x", "to_branch_code": "br-lower", "reason": "r"}
    response = client.post("/api/v1/transfers", json=lower, headers=bearer("member", "BR-A", "x"))
    assert response.status_code == 422 and "to_branch_code" in response.get_json()["errors"]["json"]
    # Roles that may never apply get 403 before anything is looked up.
    body = {"member_id": "x", "to_branch_code": "BR-B", "reason": "r"}
    assert (
        client.post("/api/v1/transfers", json=body, headers=bearer("township_officer", "TW-A")).status_code
        == 403
    )
    assert (
        client.post("/api/v1/transfers", json=body, headers=bearer("member", "BR-A", "someone")).status_code
        == 403
    )
    decision = client.post("/api/v1/transfers/none/decisions", json={"decision": "maybe"}, headers=ADMIN)
    assert decision.status_code == 422 and "decision" in decision.get_json()["errors"]["json"]
    assert client.get("/api/v1/transfers?box=later", headers=ADMIN).status_code == 422
    assert client.get("/api/v1/transfers?limit=500", headers=ADMIN).status_code == 422


def test_unknown_transfer_is_404(client):
    assert client.get("/api/v1/transfers/nope", headers=ADMIN).status_code == 404
    response = client.post("/api/v1/transfers/nope/decisions", json={"decision": "approve"}, headers=ADMIN)
    assert response.status_code == 404


def test_scope_boxes_and_stats_from_the_projection(client, migrated, settings):
    database = migrated("transfer")
    route = route_for("cross_county")
    plan = build_plan(settings, route, path_of(route.receiving))
    transfer_id, member_id = insert_projection(database, route, plan)
    url = f"/api/v1/transfers/{transfer_id}"
    assert client.get(url, headers=bearer("member", route.sending.branch, member_id)).status_code == 200
    assert client.get(url, headers=bearer("member", route.sending.branch, "other")).status_code == 403
    assert client.get(url, headers=bearer("org_department", route.receiving.county)).status_code == 200
    assert client.get(url, headers=bearer("branch_secretary", unique_code("BR"))).status_code == 403
    view = client.get(url, headers=ADMIN).get_json()
    assert view["current_stage"]["org_code"] == route.sending.branch and view["letter"] is None

    secretary = bearer("branch_secretary", route.sending.branch)
    todo = client.get("/api/v1/transfers?box=todo", headers=secretary).get_json()
    assert [item["id"] for item in todo["items"]] == [transfer_id]
    assert client.get("/api/v1/transfers?box=done", headers=secretary).get_json()["items"] == []
    stats = client.get("/api/v1/stats/transfers", headers=secretary).get_json()
    assert stats == {"todo": 1, "overdue": 0, "in_this_year": 0, "out_this_year": 0, "pending": 0}
    assert client.get("/api/v1/stats/transfers", headers=bearer("member", "BR-A", "m")).status_code == 403

    # Deciding: an outsider gets 403, a holder of a later stage 409, before Temporal is asked.
    outsider = bearer("branch_secretary", unique_code("BR"))
    decide = f"{url}/decisions"
    assert client.post(decide, json={"decision": "approve"}, headers=outsider).status_code == 403
    later = bearer("township_officer", route.sending.township)
    assert client.post(decide, json={"decision": "approve"}, headers=later).status_code == 409
    no_reason = client.post(decide, json={"decision": "return"}, headers=secretary)
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]["json"]
    assert client.post(f"{url}/report", json={}, headers=bearer("member", "BR", member_id)).status_code == 409
    assert (
        client.post(f"{url}/resubmit", json={}, headers=bearer("member", "BR", member_id)).status_code == 409
    )


def test_letter_serials_are_unique_under_concurrency(migrated):
    database = migrated("transfer")
    county = unique_code("CO")

    def take(_: int) -> int:
        with database.transaction() as session:
            return next_letter_sequence(session, county, 2026)

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(take, range(40)))
    assert sorted(numbers) == list(range(1, 41))
