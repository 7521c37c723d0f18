"""Every tasks endpoint over the Flask test client, on the real database, with registration
running under gunicorn: happy paths, 422, 401, 403, 404 and 409."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from services.tasks import commands
from services.tasks.app import create_app
from services.tasks.models import Task, outbox
from services.tasks.unit_of_work import TasksUnitOfWork
from shared.clock import local_today, quarter_of
from tests.support.tokens import ADMIN, bearer
from tests.tasks.conftest import World, task_body


@pytest.fixture(scope="module")
def client(settings_for, migrated, tasks_stack):
    migrated("tasks")
    settings = settings_for("tasks", service_urls={"registration": tasks_stack.url("registration")})
    return create_app(settings).test_client()


def events_of(migrated, task_id: str) -> list[dict]:
    with migrated("tasks").reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(outbox.table.c.subject == task_id).order_by(outbox.table.c.seq)
        ).all()
    return [json.loads(body) for body in bodies]


def china_today() -> date:
    from shared.db import utcnow

    return local_today(utcnow())


def open_hall_sweep(database, open_after: timedelta) -> list[str]:
    return commands.open_hall_sweep(TasksUnitOfWork(database), commands.OpenHall(open_after))


def overdue_sweep(database, now=None) -> list[str]:
    return commands.overdue_sweep(TasksUnitOfWork(database), commands.FlagOverdue(now))


def open_task(client, world: World, **overrides) -> dict:
    created = client.post("/api/v1/tasks", json=task_body(world.township, **overrides), headers=world.officer)
    assert created.status_code == 201, created.get_json()
    published = client.post(f"/api/v1/tasks/{created.get_json()['id']}/publish", headers=world.officer)
    assert published.status_code == 200, published.get_json()
    return published.get_json()


def claim(client, task_id: str, headers: dict, commitment: str = "我来负责"):
    return client.post(f"/api/v1/tasks/{task_id}/claims", json={"commitment": commitment}, headers=headers)


# --- create and publish -------------------------------------------------------------------


def test_create_is_a_draft_in_the_township(client, world, migrated):
    response = client.post("/api/v1/tasks", json=task_body(world.township), headers=world.officer)
    assert response.status_code == 201, response.get_json()
    task = response.get_json()
    assert task["status"] == "draft"
    assert task["org_code"] == world.township
    assert task["county_code"] == world.county
    assert task["claims"] == [] and task["capacity"] == 3 and task["points"] == 15
    defaults = client.post(
        "/api/v1/tasks",
        json={k: v for k, v in task_body(world.township).items() if k not in ("capacity", "points")},
        headers=world.officer,
    ).get_json()
    assert defaults["capacity"] == 1 and defaults["points"] == 10
    assert events_of(migrated, task["id"]) == []  # a draft is not news


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"capacity": 51}, "capacity"),
        ({"capacity": 0}, "capacity"),
        ({"due_on": "2020-01-01"}, "due_on"),
        ({"due_on": "not a date"}, "due_on"),
        ({"org_code": "lower case"}, "org_code"),
        ({"org_code": "NO-SUCH-ORG"}, "org_code"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_create_rejects_bad_fields(client, world, change, field):
    response = client.post(
        "/api/v1/tasks", json={**task_body(world.township), **change}, headers=world.officer
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]


def test_create_requires_a_township_in_the_officers_scope(client, world):
    not_township = client.post("/api/v1/tasks", json=task_body(world.branch), headers=world.officer)
    assert not_township.status_code == 422
    assert "org_code" in not_township.get_json()["errors"]["json"]
    assert client.post("/api/v1/tasks", json=task_body(world.township)).status_code == 401
    _, member = world.member()
    assert client.post("/api/v1/tasks", json=task_body(world.township), headers=member).status_code == 403
    other = client.post("/api/v1/tasks", json=task_body(world.township), headers=world.officer2)
    assert other.status_code == 403


def test_publish_opens_once_with_an_event(client, world, migrated):
    draft = client.post("/api/v1/tasks", json=task_body(world.township), headers=world.officer).get_json()
    path = f"/api/v1/tasks/{draft['id']}/publish"
    assert client.post(path).status_code == 401
    assert client.post(path, headers=world.officer2).status_code == 403
    assert client.post("/api/v1/tasks/nope/publish", headers=world.officer).status_code == 404
    published = client.post(path, headers=world.officer)
    assert published.status_code == 200
    assert published.get_json()["status"] == "open"
    again = client.post(path, headers=world.officer)
    assert again.status_code == 409
    assert "already" not in again.get_json()["message"] or "open" in again.get_json()["message"]
    types = [event["type"] for event in events_of(migrated, draft["id"])]
    assert types == ["tasks.task_published.v1"]


# --- read -----------------------------------------------------------------------------------


def test_get_task_scope(client, world):
    task = open_task(client, world)
    path = f"/api/v1/tasks/{task['id']}"
    assert client.get(path).status_code == 401
    assert client.get("/api/v1/tasks/unknown", headers=world.officer).status_code == 404
    assert client.get(path, headers=world.officer).status_code == 200
    assert client.get(path, headers=world.county_department).status_code == 200
    _, neighbour = world.member(world.branch3)  # same county, other township: not yet (no hall)
    assert client.get(path, headers=neighbour).status_code == 403
    _, local = world.member(world.branch2)
    body = client.get(path, headers=local).get_json()
    assert body["claims"] == [] and body["progress"] == [] and body["evaluations"] == []
    assert client.get(path, headers=world.officer2).status_code == 403


def test_members_do_not_see_drafts(client, world):
    draft = client.post("/api/v1/tasks", json=task_body(world.township), headers=world.officer).get_json()
    _, local = world.member()
    assert client.get(f"/api/v1/tasks/{draft['id']}", headers=local).status_code == 403
    assert claim(client, draft["id"], local).status_code == 409


def test_list_filters_and_keyset_pagination(client, world, migrated):
    category = f"cat-{world.township}"
    tasks = [open_task(client, world, category=category, capacity=1) for _ in range(5)]
    draft = client.post(
        "/api/v1/tasks", json=task_body(world.township, category=category), headers=world.officer
    ).get_json()
    member_id, member = world.member()
    assert claim(client, tasks[0]["id"], member).status_code == 201
    with migrated("tasks").transaction() as session:  # make one task overdue
        session.execute(
            update(Task).where(Task.id == tasks[1]["id"]).values(due_on=date.today() - timedelta(days=3))
        )

    def ids(query: str, headers=world.officer) -> list[str]:
        response = client.get(f"/api/v1/tasks?category={category}&{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    everything = ids("")
    assert everything == sorted([t["id"] for t in tasks] + [draft["id"]], reverse=True)
    assert ids("status=draft") == [draft["id"]]
    assert ids("status=in_progress") == [tasks[0]["id"]]
    assert ids("overdue=true") == [tasks[1]["id"]]
    assert tasks[1]["id"] not in ids("overdue=false")
    assert set(ids("claimable=true")) == {t["id"] for t in tasks[1:]}
    assert ids(f"org={world.township}") == everything
    assert ids(f"org={world.county}", headers=world.county_department) == everything
    assert ids(f"org={world.township2}", headers=world.county_department) == []
    # Members see what is open to their branch, never drafts.
    assert set(ids("", headers=member)) == {t["id"] for t in tasks}
    _, outsider = world.member(world.branch4)
    assert ids("", headers=outsider) == []
    # Keyset pages cover everything once.
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/tasks?category={category}&{query}", headers=world.officer).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    overdue_item = next(
        i
        for i in client.get(f"/api/v1/tasks?category={category}", headers=world.officer).get_json()["items"]
        if i["id"] == tasks[1]["id"]
    )
    assert overdue_item["overdue"] is True


def test_list_errors(client, world):
    assert client.get("/api/v1/tasks").status_code == 401
    for query, field in (("status=lost", "status"), ("limit=0", "limit"), ("overdue=maybe", "overdue")):
        response = client.get(f"/api/v1/tasks?{query}", headers=world.officer)
        assert response.status_code == 422, query
        assert field in response.get_json()["errors"]["query"]
    bad_cursor = client.get("/api/v1/tasks?cursor=%%%", headers=world.officer)
    assert bad_cursor.status_code == 422
    assert client.get(f"/api/v1/tasks?org={world.township2}", headers=world.officer).status_code == 403
    unknown = client.get("/api/v1/tasks?org=NO-SUCH-ORG", headers=world.officer)
    assert unknown.status_code == 422 and "org" in unknown.get_json()["errors"]["query"]


# --- claims -------------------------------------------------------------------------------


def test_claims_lead_capacity_and_events(client, world, migrated):
    task = open_task(client, world, capacity=2)
    first_id, first = world.member()
    second_id, second = world.member(world.branch2)
    _, third = world.member()
    created = claim(client, task["id"], first, "每周二送餐")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["lead"] is True
    assert created.get_json()["task_status"] == "in_progress"
    again = claim(client, task["id"], first)
    assert again.status_code == 409 and "already" in again.get_json()["message"]
    assert claim(client, task["id"], second).get_json()["lead"] is False
    full = claim(client, task["id"], third)
    assert full.status_code == 409 and "full" in full.get_json()["message"]
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=world.officer).get_json()
    assert [(c["member_id"], c["lead"]) for c in detail["claims"]] == [(first_id, True), (second_id, False)]
    assert detail["claims"][0]["commitment"] == "每周二送餐"
    assert detail["claimed"] == 2 and detail["claimable"] is False
    claimed_events = [e for e in events_of(migrated, task["id"]) if e["type"] == "tasks.task_claimed.v1"]
    assert [e["data"]["member_id"] for e in claimed_events] == [first_id, second_id]
    assert claimed_events[1]["data"]["lead_member_id"] == first_id


def test_claim_errors(client, world):
    task = open_task(client, world)
    _, member = world.member()
    path = f"/api/v1/tasks/{task['id']}/claims"
    assert client.post(path, json={"commitment": "x"}).status_code == 401
    assert client.post(path, json={}, headers=member).status_code == 422
    assert client.post(path, json={"commitment": ""}, headers=member).status_code == 422
    assert client.post(path, json={"commitment": "x"}, headers=world.officer).status_code == 403
    _, other_township = world.member(world.branch3)
    refused = client.post(path, json={"commitment": "x"}, headers=other_township)
    assert refused.status_code == 403
    unknown_branch = bearer("member", "NO-SUCH-BRANCH", sub="m-unknown")
    assert client.post(path, json={"commitment": "x"}, headers=unknown_branch).status_code == 403
    assert claim(client, "no-such-task", member).status_code == 404


def test_lead_withdraws_and_the_earliest_remaining_claimant_leads(client, world, migrated):
    task = open_task(client, world, capacity=3)
    members = [world.member() for _ in range(3)]
    for _, headers in members:
        assert claim(client, task["id"], headers).status_code == 201
    (lead_id, lead), (second_id, second), (third_id, _) = members
    path = f"/api/v1/tasks/{task['id']}/claims/{lead_id}"
    assert client.delete(path).status_code == 401
    assert client.delete(path, headers=second).status_code == 403
    withdrawn = client.delete(path, headers=lead)
    assert withdrawn.status_code == 200, withdrawn.get_json()
    body = withdrawn.get_json()
    assert body["lead_member_id"] == second_id and body["claimed"] == 2
    assert [c["member_id"] for c in body["claims"] if c["lead"]] == [second_id]
    assert client.delete(path, headers=lead).status_code == 404
    # An officer removes a claimant; the removal leaves a place for someone new.
    removed = client.delete(f"/api/v1/tasks/{task['id']}/claims/{third_id}", headers=world.officer)
    assert removed.status_code == 200 and removed.get_json()["claimed"] == 1
    assert (
        client.delete(f"/api/v1/tasks/{task['id']}/claims/{second_id}", headers=world.officer2).status_code
        == 403
    )
    assert client.delete(f"/api/v1/tasks/nope/claims/{second_id}", headers=world.officer).status_code == 404
    # The last claimant leaving reopens the task.
    last = client.delete(f"/api/v1/tasks/{task['id']}/claims/{second_id}", headers=second).get_json()
    assert last["status"] == "open" and last["lead_member_id"] is None and last["claimed"] == 0
    assert claim(client, task["id"], lead).get_json()["lead"] is True
    kinds = [e["type"] for e in events_of(migrated, task["id"])]
    assert kinds.count("tasks.claim_withdrawn.v1") == 3


def test_withdraw_after_completion_conflicts(client, world):
    task = open_task(client, world)
    lead_id, lead = world.member()
    claim(client, task["id"], lead)
    assert (
        client.post(
            f"/api/v1/tasks/{task['id']}/complete", json={"summary": "done"}, headers=lead
        ).status_code
        == 200
    )
    late = client.delete(f"/api/v1/tasks/{task['id']}/claims/{lead_id}", headers=lead)
    assert late.status_code == 409 and "completed" in late.get_json()["message"]


def test_assignment_counts_against_capacity(client, world):
    task = open_task(client, world, capacity=2)
    path = f"/api/v1/tasks/{task['id']}/assignments"
    assigned_id, _ = world.registered_member(world.branch2)
    assert client.post(path, json={"member_id": assigned_id}).status_code == 401
    assert client.post(path, json={"member_id": assigned_id}, headers=world.member()[1]).status_code == 403
    assert client.post(path, json={"member_id": assigned_id}, headers=world.officer2).status_code == 403
    assert client.post(path, json={}, headers=world.officer).status_code == 422
    unknown = client.post(path, json={"member_id": "nobody-at-all"}, headers=world.officer)
    assert unknown.status_code == 422 and "member_id" in unknown.get_json()["errors"]["json"]
    assert (
        client.post(
            "/api/v1/tasks/nope/assignments", json={"member_id": assigned_id}, headers=world.officer
        ).status_code
        == 404
    )
    outsider_id, _ = world.registered_member(world.branch4)
    assert client.post(path, json={"member_id": outsider_id}, headers=world.officer).status_code == 403
    created = client.post(path, json={"member_id": assigned_id}, headers=world.officer)
    assert created.status_code == 201, created.get_json()
    assert (
        created.get_json()["lead"] is True
        and created.get_json()["assigned_by"] == f"officer-{world.township}"
    )
    assert client.post(path, json={"member_id": assigned_id}, headers=world.officer).status_code == 409
    assert claim(client, task["id"], world.member()[1]).status_code == 201
    second_id, _ = world.registered_member()
    full = client.post(path, json={"member_id": second_id}, headers=world.officer)
    assert full.status_code == 409 and "full" in full.get_json()["message"]


# --- progress and completion --------------------------------------------------------------


def test_progress_only_goes_up(client, world, migrated):
    task = open_task(client, world, capacity=2)
    lead_id, lead = world.member()
    helper_id, helper = world.member()
    path = f"/api/v1/tasks/{task['id']}/progress"
    assert (
        client.post(path, json={"note": "x", "percent": 10}, headers=lead).status_code == 403
    )  # not yet a claimant
    claim(client, task["id"], lead)
    claim(client, task["id"], helper)
    first = client.post(path, json={"note": "走访了5户", "percent": 30}, headers=lead)
    assert first.status_code == 201 and first.get_json()["percent"] == 30
    assert client.post(path, json={"note": "同上", "percent": 30}, headers=helper).status_code == 201
    down = client.post(path, json={"note": "oops", "percent": 20}, headers=helper)
    assert down.status_code == 409 and "only goes up" in down.get_json()["message"]
    assert client.post(path, json={"note": "x", "percent": 101}, headers=lead).status_code == 422
    assert client.post(path, json={"percent": 50}, headers=lead).status_code == 422
    assert client.post(path, json={"note": "x", "percent": 50}).status_code == 401
    assert client.post(path, json={"note": "x", "percent": 50}, headers=world.officer).status_code == 403
    assert (
        client.post(
            "/api/v1/tasks/nope/progress", json={"note": "x", "percent": 50}, headers=lead
        ).status_code
        == 404
    )
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=world.officer).get_json()
    assert [p["percent"] for p in detail["progress"]] == [30, 30]
    assert detail["progress_percent"] == 30
    reported = [e for e in events_of(migrated, task["id"]) if e["type"] == "tasks.progress_reported.v1"]
    assert [e["data"]["member_id"] for e in reported] == [lead_id, helper_id]


def test_only_the_lead_completes(client, world, migrated):
    task = open_task(client, world, capacity=2)
    _, lead = world.member()
    _, helper = world.member()
    path = f"/api/v1/tasks/{task['id']}/complete"
    assert client.post(path, json={"summary": "x"}, headers=lead).status_code == 403  # nobody claimed yet
    claim(client, task["id"], lead)
    claim(client, task["id"], helper)
    assert client.post(path, json={"summary": "x"}).status_code == 401
    assert client.post(path, json={}, headers=lead).status_code == 422
    assert client.post(path, json={"summary": "x"}, headers=helper).status_code == 403
    assert client.post("/api/v1/tasks/nope/complete", json={"summary": "x"}, headers=lead).status_code == 404
    done = client.post(path, json={"summary": "送餐48次"}, headers=lead)
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    assert done.get_json()["summary"] == "送餐48次"
    again = client.post(path, json={"summary": "x"}, headers=lead)
    assert again.status_code == 409 and "completed" in again.get_json()["message"]
    progress = client.post(
        f"/api/v1/tasks/{task['id']}/progress", json={"note": "x", "percent": 100}, headers=lead
    )
    assert progress.status_code == 409
    assert "tasks.task_completed.v1" in [e["type"] for e in events_of(migrated, task["id"])]


# --- evaluations and points ---------------------------------------------------------------


def completed_task(client, world, claimants: int, points: int = 15) -> tuple[dict, list[tuple[str, dict]]]:
    task = open_task(client, world, capacity=max(claimants, 1), points=points)
    members = [world.member(world.branch if i % 2 == 0 else world.branch2) for i in range(claimants)]
    for _, headers in members:
        assert claim(client, task["id"], headers).status_code == 201
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"summary": "ok"}, headers=members[0][1])
    assert done.status_code == 200
    return task, members


def test_org_evaluation_closes_and_awards_points_once(client, world, migrated):
    task, members = completed_task(client, world, claimants=3, points=15)
    path = f"/api/v1/tasks/{task['id']}/evaluations"
    _, resident_recorder = None, world.officer
    _, voter = world.member(world.branch2)
    member_vote = client.post(path, json={"rating": 4, "source": "member"}, headers=voter)
    assert member_vote.status_code == 201, member_vote.get_json()
    assert client.post(path, json={"rating": 4, "source": "member"}, headers=voter).status_code == 409
    assert client.post(path, json={"rating": 5, "source": "member"}, headers=members[1][1]).status_code == 403
    public = client.post(
        path, json={"rating": 5, "source": "public", "comment": "居民满意"}, headers=resident_recorder
    )
    assert public.status_code == 201
    assert (
        client.post(
            path, json={"rating": 5, "source": "public"}, headers=bearer("branch_secretary", world.branch)
        ).status_code
        == 201
    )
    assert client.post(path, json={"rating": 6, "source": "org"}, headers=world.officer).status_code == 422
    assert client.post(path, json={"rating": 3, "source": "boss"}, headers=world.officer).status_code == 422
    assert client.post(path, json={"rating": 3, "source": "org"}).status_code == 401
    assert client.post(path, json={"rating": 3, "source": "org"}, headers=world.officer2).status_code == 403
    assert client.post(path, json={"rating": 3, "source": "org"}, headers=voter).status_code == 403
    assert (
        client.post(
            "/api/v1/tasks/nope/evaluations", json={"rating": 3, "source": "org"}, headers=world.officer
        ).status_code
        == 404
    )
    closing = client.post(path, json={"rating": 5, "source": "org", "comment": "好"}, headers=world.officer)
    assert closing.status_code == 201, closing.get_json()
    again = client.post(path, json={"rating": 5, "source": "org"}, headers=world.county_department)
    assert again.status_code == 409 and "evaluated" in again.get_json()["message"]
    late_vote = client.post(path, json={"rating": 2, "source": "member"}, headers=world.member()[1])
    assert late_vote.status_code == 409
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=world.officer).get_json()
    assert detail["status"] == "evaluated"
    lead_id = members[0][0]
    assert {a["member_id"]: a["points"] for a in detail["awards"]} == {
        lead_id: 15,
        members[1][0]: 8,  # half of 15, rounded up
        members[2][0]: 8,
    }
    assert len(detail["evaluations"]) == 4
    evaluated = [e for e in events_of(migrated, task["id"]) if e["type"] == "tasks.task_evaluated.v1"]
    assert [e["data"]["source"] for e in evaluated] == ["member", "public", "public", "org"]
    assert {a["member_id"]: a["points"] for a in evaluated[-1]["data"]["awards"]}[lead_id] == 15


def test_evaluating_before_completion_conflicts(client, world):
    task = open_task(client, world)
    response = client.post(
        f"/api/v1/tasks/{task['id']}/evaluations", json={"rating": 5, "source": "org"}, headers=world.officer
    )
    assert response.status_code == 409 and "open" in response.get_json()["message"]


def test_quarter_ranking_of_a_subtree(client, fresh_world):
    first, members_a = completed_task(client, fresh_world, claimants=2, points=10)
    second, members_b = completed_task(client, fresh_world, claimants=1, points=7)
    for task in (first, second):
        assert (
            client.post(
                f"/api/v1/tasks/{task['id']}/evaluations",
                json={"rating": 5, "source": "org"},
                headers=fresh_world.officer,
            ).status_code
            == 201
        )
    quarter = quarter_of(china_today())
    response = client.get(f"/api/v1/points?org={fresh_world.township}", headers=fresh_world.officer)
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    assert [(i["member_id"], i["points"], i["rank"]) for i in items] == [
        (members_a[0][0], 10, 1),
        (members_b[0][0], 7, 2),
        (members_a[1][0], 5, 3),
    ]
    explicit = client.get(
        f"/api/v1/points?org={fresh_world.township}&quarter={quarter}&limit=1", headers=fresh_world.officer
    ).get_json()
    assert [i["points"] for i in explicit["items"]] == [10]
    page2 = client.get(
        f"/api/v1/points?org={fresh_world.township}&quarter={quarter}&limit=1&cursor={explicit['next_cursor']}",
        headers=fresh_world.officer,
    ).get_json()
    assert [(i["points"], i["rank"]) for i in page2["items"]] == [(7, 2)]
    # By branch: members_a[1] claimed from branch2.
    by_branch = client.get(
        f"/api/v1/points?org={fresh_world.branch2}", headers=fresh_world.officer
    ).get_json()["items"]
    assert [i["member_id"] for i in by_branch] == [members_a[1][0]]
    assert (
        client.get(
            f"/api/v1/points?org={fresh_world.township}&quarter=2001-Q1", headers=fresh_world.officer
        ).get_json()["items"]
        == []
    )
    assert (
        client.get(
            f"/api/v1/points?org={fresh_world.township}&quarter=2026-Q5", headers=fresh_world.officer
        ).status_code
        == 422
    )
    assert client.get("/api/v1/points", headers=fresh_world.officer).status_code == 422
    assert client.get(f"/api/v1/points?org={fresh_world.township}").status_code == 401
    assert (
        client.get(f"/api/v1/points?org={fresh_world.township}", headers=fresh_world.officer2).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/points?org={fresh_world.township}", headers=fresh_world.member()[1]).status_code
        == 200
    )
    assert (
        client.get(
            f"/api/v1/points?org={fresh_world.township}", headers=fresh_world.member(fresh_world.branch4)[1]
        ).status_code
        == 403
    )


def test_ranking_ties_share_a_rank(client, fresh_world):
    first, a = completed_task(client, fresh_world, claimants=1, points=6)
    second, b = completed_task(client, fresh_world, claimants=2, points=6)
    for task in (first, second):
        client.post(
            f"/api/v1/tasks/{task['id']}/evaluations",
            json={"rating": 4, "source": "org"},
            headers=fresh_world.officer,
        )
    items = client.get(f"/api/v1/points?org={fresh_world.township}", headers=fresh_world.officer).get_json()[
        "items"
    ]
    assert [(i["points"], i["rank"]) for i in items] == [(6, 1), (6, 1), (3, 3)]


# --- cancel and stats ---------------------------------------------------------------------


def test_cancel(client, world, migrated):
    task = open_task(client, world)
    path = f"/api/v1/tasks/{task['id']}/cancel"
    assert client.post(path, json={"reason": "x"}).status_code == 401
    assert client.post(path, json={"reason": "x"}, headers=world.officer2).status_code == 403
    assert client.post(path, json={"reason": "x"}, headers=world.member()[1]).status_code == 403
    assert client.post("/api/v1/tasks/nope/cancel", json={}, headers=world.officer).status_code == 404
    assert client.post(path, json={"reason": 5}, headers=world.officer).status_code == 422
    _, lead = world.member()
    claim(client, task["id"], lead)
    cancelled = client.post(path, json={"reason": "需求已由街道解决"}, headers=world.officer)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.post(path, json={}, headers=world.officer).status_code == 409
    assert claim(client, task["id"], world.member()[1]).status_code == 409
    cancelled_events = [e for e in events_of(migrated, task["id"]) if e["type"] == "tasks.task_cancelled.v1"]
    assert cancelled_events[0]["data"]["reason"] == "需求已由街道解决"


def test_stats_per_org(client, fresh_world, migrated):
    open_task(client, fresh_world)
    overdue = open_task(client, fresh_world)
    with migrated("tasks").transaction() as session:
        session.execute(
            update(Task).where(Task.id == overdue["id"]).values(due_on=date.today() - timedelta(days=1))
        )
    done, _ = completed_task(client, fresh_world, claimants=1)
    client.post(
        f"/api/v1/tasks/{done['id']}/evaluations",
        json={"rating": 4, "source": "org"},
        headers=fresh_world.officer,
    )
    client.post("/api/v1/tasks", json=task_body(fresh_world.township), headers=fresh_world.officer)
    response = client.get(f"/api/v1/stats/tasks?org={fresh_world.township}", headers=fresh_world.officer)
    assert response.status_code == 200, response.get_json()
    stats = response.get_json()
    assert stats["by_status"] == {
        "draft": 1,
        "open": 2,
        "in_progress": 0,
        "completed": 0,
        "evaluated": 1,
        "cancelled": 0,
    }
    assert stats["total"] == 4 and stats["overdue"] == 1
    assert stats["completion_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert stats["average_rating"] == 4.0
    county = client.get(
        f"/api/v1/stats/tasks?org={fresh_world.county}", headers=fresh_world.county_department
    ).get_json()
    assert county["total"] == 4
    # Per township (an addition for the county's dashboard): the one with tasks; its name beside.
    (township,) = county["by_org"]
    assert township["org_code"] == fresh_world.township and township["name"]
    assert (township["total"], township["done"], township["offered"], township["overdue"]) == (4, 1, 3, 1)
    assert township["completion_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert stats["by_org"] == []  # a township's tasks sit at the township itself: no children
    assert (
        client.get(
            f"/api/v1/stats/tasks?org={fresh_world.township2}", headers=fresh_world.officer2
        ).get_json()["total"]
        == 0
    )
    assert client.get(f"/api/v1/stats/tasks?org={fresh_world.township}").status_code == 401
    assert (
        client.get(
            f"/api/v1/stats/tasks?org={fresh_world.township}", headers=fresh_world.officer2
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/stats/tasks?org={fresh_world.township}", headers=fresh_world.member()[1]
        ).status_code
        == 403
    )
    assert client.get("/api/v1/stats/tasks", headers=fresh_world.officer).status_code == 422
    assert client.get("/api/v1/stats/tasks?org=NO-SUCH", headers=fresh_world.officer).status_code == 422


# --- lead cap, open hall, overdue ---------------------------------------------------------


def test_a_member_leads_a_limited_number_of_live_tasks(settings_for, tasks_stack, world):
    settings = settings_for(
        "tasks", service_urls={"registration": tasks_stack.url("registration")}, max_led_open_tasks=2
    )
    capped = create_app(settings).test_client()
    tasks = [open_task(capped, world) for _ in range(3)]
    _, member = world.member()
    assert claim(capped, tasks[0]["id"], member).status_code == 201
    assert claim(capped, tasks[1]["id"], member).status_code == 201
    refused = claim(capped, tasks[2]["id"], member)
    assert refused.status_code == 409 and "at most 2" in refused.get_json()["message"]
    # Helping is not leading: with a lead in place, the member may still join.
    _, other = world.member()
    assert claim(capped, tasks[2]["id"], other).status_code == 201
    assert claim(capped, tasks[2]["id"], member).get_json()["lead"] is False
    # Completing a led task frees a place.
    capped.post(f"/api/v1/tasks/{tasks[0]['id']}/complete", json={"summary": "ok"}, headers=member)
    fourth = open_task(capped, world)
    assert claim(capped, fourth["id"], member).get_json()["lead"] is True


def test_unclaimed_task_opens_to_the_county_hall_once(client, world, migrated):
    task = open_task(client, world)
    claimed = open_task(client, world)
    claim(client, claimed["id"], world.member()[1])
    _, neighbour = world.member(world.branch3)
    assert claim(client, task["id"], neighbour).status_code == 403
    database = migrated("tasks")
    opened = open_hall_sweep(database, timedelta(0))
    assert task["id"] in opened and claimed["id"] not in opened
    assert task["id"] not in open_hall_sweep(database, timedelta(0))
    hall = [e for e in events_of(migrated, task["id"]) if e["type"] == "tasks.task_opened_to_hall.v1"]
    assert len(hall) == 1 and hall[0]["data"]["county_code"] == world.county
    listed = client.get("/api/v1/tasks?claimable=true", headers=neighbour).get_json()["items"]
    assert task["id"] in [i["id"] for i in listed]
    assert claim(client, task["id"], neighbour).status_code == 201
    _, far_away = world.member(world.branch4)
    assert claim(client, task["id"], far_away).status_code == 403


def test_recent_tasks_stay_in_their_township(client, world, migrated):
    task = open_task(client, world)
    assert task["id"] not in open_hall_sweep(migrated("tasks"), timedelta(days=7))


def test_overdue_is_flagged_once_per_task(client, world, migrated):
    # Due today as the service counts days (China time): not overdue yet, and overdue in 2 days.
    task = open_task(client, world, due_on=china_today().isoformat())
    database = migrated("tasks")
    from shared.db import utcnow

    assert task["id"] not in overdue_sweep(database)
    later = utcnow() + timedelta(days=2)
    assert task["id"] in overdue_sweep(database, now=later)
    assert task["id"] not in overdue_sweep(database, now=later + timedelta(days=1))
    overdue = [e for e in events_of(migrated, task["id"]) if e["type"] == "tasks.task_overdue.v1"]
    assert len(overdue) == 1 and overdue[0]["data"]["due_on"] == task["due_on"]


def test_admin_reads_everything(client, world):
    task = open_task(client, world)
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=ADMIN).status_code == 200
    assert client.get(f"/api/v1/stats/tasks?org={world.province}", headers=ADMIN).status_code == 200
