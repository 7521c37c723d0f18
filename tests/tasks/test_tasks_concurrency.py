"""1,000 simultaneous claims on a task with capacity 3, over real HTTP against gunicorn:
exactly three 201 and 997 409, on whichever database the session runs (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.tokens import bearer
from tests.tasks.conftest import World, task_body

CLAIMS = 1000
THREADS = 64


def test_a_thousand_simultaneous_claims_fill_exactly_three_places(tasks_stack, world: World):
    base = tasks_stack.url("tasks")
    created = requests.post(
        f"{base}/api/v1/tasks", json=task_body(world.township, capacity=3), headers=world.officer, timeout=10
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    assert requests.post(f"{base}/api/v1/tasks/{task_id}/publish", headers=world.officer, timeout=10).ok
    tokens = [
        bearer("member", world.branch if i % 2 else world.branch2, sub=f"crowd-{task_id}-{i}")
        for i in range(CLAIMS)
    ]
    local = threading.local()
    start = threading.Barrier(THREADS)

    def claim(headers: dict[str, str]) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            start.wait()  # every thread fires at once
        response = session.post(
            f"{base}/api/v1/tasks/{task_id}/claims", json={"commitment": "我来"}, headers=headers, timeout=60
        )
        if response.status_code == 409:
            assert "full" in response.json()["message"]
        return response.status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = Counter(pool.map(claim, tokens))
    assert statuses == {201: 3, 409: CLAIMS - 3}, statuses
    task = requests.get(f"{base}/api/v1/tasks/{task_id}", headers=world.officer, timeout=10).json()
    assert task["claimed"] == 3 and len(task["claims"]) == 3
    assert sum(claim["lead"] for claim in task["claims"]) == 1
    assert task["lead_member_id"] == task["claims"][0]["member_id"]
