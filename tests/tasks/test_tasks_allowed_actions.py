"""`allowed_actions` on a task (API additions, "Tasks"): for a matrix of callers and task states,
an action is offered exactly when its endpoint accepts it. And the members named in task events
carry their names for the notices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from services.tasks.app import create_app
from services.tasks.domain import ACTIONS
from tests.support.builders import unique_code
from tests.support.tokens import ADMIN, bearer
from tests.tasks.conftest import World, task_body
from tests.tasks.test_tasks_api import claim, events_of

STATES = ("draft", "open", "in_progress", "full", "completed", "evaluated", "cancelled")
CALLERS = (
    "officer",
    "officer_elsewhere",
    "county_department",
    "admin",
    "lead",
    "helper",
    "member",
    "member_elsewhere",
    "secretary",
)


@pytest.fixture(scope="module")
def client(settings_for, migrated, tasks_stack):
    migrated("tasks")
    settings = settings_for("tasks", service_urls={"registration": tasks_stack.url("registration")})
    return create_app(settings).test_client()


@dataclass
class Built:
    """A task in one state, with the people who stand in some relation to it."""

    task_id: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    assignee: str = ""


def build(client, world: World, state: str) -> Built:
    """A fresh task in `state`: capacity 2 (1 when full); the lead and a helper claim it from
    in_progress on (only the lead when full)."""
    capacity = 1 if state == "full" else 2
    created = client.post(
        "/api/v1/tasks", json=task_body(world.township, capacity=capacity), headers=world.officer
    )
    assert created.status_code == 201, created.get_json()
    built = Built(created.get_json()["id"])
    for name in ("lead", "helper", "member"):
        built.ids[name], built.headers[name] = world.member()
    built.ids["member_elsewhere"], built.headers["member_elsewhere"] = world.member(world.branch4)
    built.headers |= {
        "officer": world.officer,
        "officer_elsewhere": world.officer2,
        "county_department": world.county_department,
        "admin": ADMIN,
        "secretary": bearer("branch_secretary", world.branch, sub=f"sec-{world.branch}"),
    }
    built.assignee = world.registration.member(world.branch)
    path = f"/api/v1/tasks/{built.task_id}"
    steps: list[Callable[[], object]] = []
    if state != "draft":
        steps.append(lambda: client.post(f"{path}/publish", headers=world.officer))
    if state in ("in_progress", "full", "completed", "evaluated"):
        steps.append(lambda: claim(client, built.task_id, built.headers["lead"]))
    if state in ("in_progress", "completed", "evaluated"):
        steps.append(lambda: claim(client, built.task_id, built.headers["helper"]))
    if state in ("completed", "evaluated"):
        steps.append(
            lambda: client.post(f"{path}/complete", json={"summary": "完成"}, headers=built.headers["lead"])
        )
    if state == "evaluated":
        body = {"rating": 5, "source": "org"}
        steps.append(lambda: client.post(f"{path}/evaluations", json=body, headers=world.officer))
    if state == "cancelled":
        steps.append(lambda: client.post(f"{path}/cancel", headers=world.officer))
    for step in steps:
        response = step()
        assert response.status_code in (200, 201), response.get_json()  # type: ignore[attr-defined]
    return built


def attempt(client, built: Built, caller: str, action: str) -> int:
    """Ask the endpoint of `action` as `caller`; its status code."""
    path = f"/api/v1/tasks/{built.task_id}"
    headers = built.headers[caller]
    member_caller = caller in ("lead", "helper", "member", "member_elsewhere")
    if action == "publish":
        return client.post(f"{path}/publish", headers=headers).status_code
    if action == "claim":
        return claim(client, built.task_id, headers).status_code
    if action == "withdraw":
        whom = built.ids[caller] if member_caller else built.ids["lead"]
        return client.delete(f"{path}/claims/{whom}", headers=headers).status_code
    if action == "assign":
        body = {"member_id": built.assignee}
        return client.post(f"{path}/assignments", json=body, headers=headers).status_code
    if action == "progress":
        body = {"percent": 60, "note": "走访了三户"}
        return client.post(f"{path}/progress", json=body, headers=headers).status_code
    if action == "complete":
        return client.post(f"{path}/complete", json={"summary": "完成"}, headers=headers).status_code
    if action == "evaluate":
        source = "member" if member_caller else "public" if caller == "secretary" else "org"
        body = {"rating": 4, "source": source}
        return client.post(f"{path}/evaluations", json=body, headers=headers).status_code
    assert action == "cancel"
    return client.post(f"{path}/cancel", headers=headers).status_code


def offered(client, built: Built, caller: str) -> set[str] | None:
    """The caller's allowed_actions; None when they may not read the task."""
    response = client.get(f"/api/v1/tasks/{built.task_id}", headers=built.headers[caller])
    if response.status_code == 403:
        return None
    assert response.status_code == 200, response.get_json()
    actions = response.get_json()["allowed_actions"]
    assert actions == [action for action in ACTIONS if action in actions]  # in the contract's order
    return set(actions)


@pytest.mark.parametrize("state", STATES)
def test_an_action_is_offered_exactly_when_its_endpoint_accepts_it(client, world, state):
    built = build(client, world, state)
    expected = {caller: offered(client, built, caller) for caller in CALLERS}
    mismatches = []
    for caller in CALLERS:
        for action in ACTIONS:
            status = attempt(client, built, caller, action)
            accepted = 200 <= status < 300
            if accepted != (action in (expected[caller] or set())):
                mismatches.append((caller, action, status, sorted(expected[caller] or ())))
            if accepted:  # the task moved on: the next attempts start from the state again
                built = build(client, world, state)
    assert not mismatches, mismatches


def test_a_full_task_offers_no_claim_and_a_draft_no_claims_at_all(client, world):
    full = build(client, world, "full")
    assert offered(client, full, "member") == set()
    assert offered(client, full, "lead") == {"withdraw", "progress", "complete"}
    assert offered(client, full, "officer") == {"withdraw", "cancel"}
    open_ = build(client, world, "open")
    assert offered(client, open_, "member") == {"claim"}
    assert offered(client, open_, "officer") == {"assign", "cancel"}
    draft = build(client, world, "draft")
    assert offered(client, draft, "officer") == {"publish", "cancel"}
    assert offered(client, draft, "officer_elsewhere") is None


def test_a_member_at_the_lead_cap_is_not_offered_a_task_they_would_lead(client, world):
    member_id, member = world.member()
    for _ in range(5):  # the default cap of live tasks one member leads
        task = build(client, world, "open")
        assert claim(client, task.task_id, member).status_code == 201
    sixth = build(client, world, "open")
    sixth.headers["capped"] = member
    assert offered(client, sixth, "capped") == set()
    assert claim(client, sixth.task_id, member).status_code == 409
    # A task that already has its lead is still open to them as a helper.
    led = build(client, world, "open")
    assert claim(client, led.task_id, led.headers["lead"]).status_code == 201
    led.headers["capped"] = member
    assert offered(client, led, "capped") == {"claim"}
    assert claim(client, led.task_id, member).status_code == 201, member_id


def test_task_events_name_the_member_they_are_about(client, world, migrated, registration):
    task = build(client, world, "open")
    name = "张三"
    lead_id = unique_code("M")
    lead = bearer("member", world.branch, sub=lead_id, name=name)
    assert claim(client, task.task_id, lead).status_code == 201
    path = f"/api/v1/tasks/{task.task_id}"
    assigned = client.post(f"{path}/assignments", json={"member_id": task.assignee}, headers=world.officer)
    assert assigned.status_code == 201, assigned.get_json()
    body = {"percent": 50, "note": "走访了三户"}
    assert client.post(f"{path}/progress", json=body, headers=lead).status_code == 201
    assert client.post(f"{path}/complete", json={"summary": "完成"}, headers=lead).status_code == 200
    by_type = {}
    for event in events_of(migrated, task.task_id):
        by_type.setdefault(event["type"], []).append(event["data"])
    claims = by_type["tasks.task_claimed.v1"]
    assert [(c["member_id"], c["member_name"]) for c in claims][0] == (lead_id, name)
    assigned_name = registration.http.get(
        f"{registration.base_url}/api/v1/members/{task.assignee}?masked=true", headers=ADMIN, timeout=10
    ).json()["name"]
    assert (claims[1]["member_id"], claims[1]["member_name"]) == (task.assignee, assigned_name)
    assert by_type["tasks.progress_reported.v1"][0]["member_name"] == name
    assert by_type["tasks.task_completed.v1"][0]["member_name"] == name
