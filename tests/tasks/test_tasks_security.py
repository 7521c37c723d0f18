"""Findings of the security review (issue 17) in the tasks service: the points ranking a member
may read, ids at the edge and in outbound URLs, unknown query parameters, crafted input."""

from __future__ import annotations

import pytest

from services.tasks.app import create_app
from services.tasks.clients import RegistrationMembers
from tests.support.tokens import ADMIN
from tests.tasks.conftest import task_body
from tests.tasks.test_tasks_api import claim, completed_task, open_task


@pytest.fixture(scope="module")
def client(settings_for, migrated, tasks_stack):
    migrated("tasks")
    settings = settings_for("tasks", service_urls={"registration": tasks_stack.url("registration")})
    return create_app(settings).test_client()


# --- 15: a member reads the ranking of their own county only ---------------------------------------


def test_a_member_reads_the_ranking_of_their_own_county_only(client, world):
    _, member = world.member()
    for org in (world.county, world.township, world.branch):
        assert client.get(f"/api/v1/points?org={org}", headers=member).status_code == 200, org
    for org in ("CN", world.province, world.county2, world.township2):
        assert client.get(f"/api/v1/points?org={org}", headers=member).status_code == 403, org


def test_a_member_reads_their_own_points_by_quarter(client, fresh_world):
    task, members = completed_task(client, fresh_world, claimants=2, points=10)
    evaluation = {"rating": 5, "source": "org", "comment": "好"}
    path = f"/api/v1/tasks/{task['id']}/evaluations"
    assert client.post(path, json=evaluation, headers=fresh_world.officer).status_code == 201
    (lead_id, lead), (_, other) = members
    mine = client.get("/api/v1/points/me", headers=lead)
    assert mine.status_code == 200, mine.get_json()
    body = mine.get_json()
    assert body["member_id"] == lead_id and body["total"] == 10
    assert [item["points"] for item in body["quarters"]] == [10]
    assert client.get("/api/v1/points/me", headers=other).get_json()["total"] == 5
    assert client.get("/api/v1/points/me", headers=fresh_world.officer).status_code == 403


# --- 7: ids at the edge and in outbound URLs ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/tasks/..", "/api/v1/tasks/a.b", "/api/v1/tasks/x%3Fy/claims", "/api/v1/tasks/x/claims/a%20b"],
)
def test_malformed_ids_in_paths_are_a_422(client, world, path):
    if path.endswith("claims"):
        response = client.post(path, json={"commitment": "我来"}, headers=world.member()[1])
    elif "/claims/" in path:
        response = client.delete(path, headers=world.officer)
    else:
        response = client.get(path, headers=world.officer)
    assert response.status_code == 422, (path, response.get_json())
    assert set(response.get_json()["errors"]["path"]) <= {"task_id", "member_id"}


def test_an_assigned_member_id_is_checked_before_it_reaches_registration(client, world):
    task = open_task(client, world, capacity=2)
    for member_id in ("../ledger?org=CN&format=json", "..", "a/b", "x#y"):
        response = client.post(
            f"/api/v1/tasks/{task['id']}/assignments", json={"member_id": member_id}, headers=world.officer
        )
        assert response.status_code == 422, (member_id, response.get_json())
        assert "member_id" in response.get_json()["errors"]["json"]


def test_outbound_member_urls_encode_the_id():
    class Recorder:
        def __init__(self) -> None:
            self.paths: list[str] = []

        def request(self, method: str, path: str, **kwargs: object) -> object:
            self.paths.append(path)

            class Answer:
                status_code = 404

            return Answer()

    recorder = Recorder()
    assert RegistrationMembers(recorder).branch_code_of("../ledger?org=CN") is None  # type: ignore[arg-type]
    assert recorder.paths == ["/api/v1/members/..%2Fledger%3Forg%3DCN"]


# --- unknown query parameters, crafted input, control characters ---------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tasks?sttus=open",
        "/api/v1/tasks?limit=5&mine=true",
        "/api/v1/points?org=CN&qtr=2026-Q1",
        "/api/v1/stats/tasks?org=CN&x=1",
    ],
)
def test_unknown_query_parameters_are_refused(client, url):
    response = client.get(url, headers=ADMIN)
    assert response.status_code == 422, (url, response.get_json())
    assert response.get_json()["errors"]["query"]


def test_crafted_input_is_a_4xx(client, world):
    assert client.get("/api/v1/points?org=CN&cursor=%FF", headers=ADMIN).status_code == 422
    assert (
        client.get("/api/v1/points?org=CN&cursor=WyJhIiwiYiIsImMiLCJkIl0", headers=ADMIN).status_code == 422
    )
    assert client.get("/api/v1/tasks?cursor=bm90IGpzb24", headers=ADMIN).status_code == 422
    nested = "[" * 5000 + "]" * 5000
    response = client.post(
        "/api/v1/tasks", data=nested, content_type="application/json", headers=world.officer
    )
    assert response.status_code == 422
    surrogate = b'{"commitment": "\\udc00"}'
    task = open_task(client, world)
    lone = client.post(
        f"/api/v1/tasks/{task['id']}/claims",
        data=surrogate,
        content_type="application/json",
        headers=world.member()[1],
    )
    assert lone.status_code == 422


@pytest.mark.parametrize("title", ["送餐\r\n[INFO] 伪造日志", "送餐\t", "送\u2028餐"])
def test_task_titles_with_control_characters_are_refused(client, world, title):
    response = client.post(
        "/api/v1/tasks", json=task_body(world.township, title=title), headers=world.officer
    )
    assert response.status_code == 422 and "title" in response.get_json()["errors"]["json"]


def test_a_well_formed_claim_still_works(client, world):
    task = open_task(client, world)
    assert claim(client, task["id"], world.member()[1]).status_code == 201
