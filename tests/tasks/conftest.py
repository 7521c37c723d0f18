"""Fixtures of the tasks tests: a registration and tasks API under gunicorn, and an org world.

Tasks asks registration for the org tree over HTTP, so registration must really run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.builders import member_body, unique_code
from tests.support.infra import AMQP_URL
from tests.support.stack import Stack
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="session")
def tasks_stack(test_databases, broker_prefix, migrated, tmp_path_factory) -> Iterator[Stack]:
    for service in ("registration", "tasks"):
        migrated(service)
    env = {
        **test_databases.env(),
        "AMQP_URL": AMQP_URL,
        "NUANLIU_BROKER_PREFIX": f"{broker_prefix}tasks.",
        "NUANLIU_VAR_DIR": str(tmp_path_factory.mktemp("tasks-var")),
        "NUANLIU_WEB_WORKERS": "2",
        "NUANLIU_WEB_THREADS": "8",
    }
    stack = Stack(tmp_path_factory.mktemp("tasks-logs"), env)
    stack.start("registration-api", "tasks-api")
    try:
        stack.wait_ready("registration", "tasks")
        yield stack
    finally:
        stack.stop()


class Registration:
    """Creates orgs and members through the real registration API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def org(self, level: str, parent: str) -> str:
        code = unique_code(level[:2].upper())
        response = self.http.post(
            self.base_url + "/api/v1/orgs",
            json={"code": code, "name": f"{level} {code}", "level": level, "parent_code": parent},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return code

    def member(self, branch: str) -> str:
        response = self.http.post(
            self.base_url + "/api/v1/members", json=member_body(branch), headers=ADMIN, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]


@pytest.fixture(scope="session")
def registration(tasks_stack: Stack) -> Registration:
    return Registration(tasks_stack.url("registration"))


class World:
    """province → county C1 → townships T1 (branches B1, B2) and T2 (branch B3);
    county C2 → township T3 (branch B4). Officers and members with tokens."""

    def __init__(self, registration: Registration) -> None:
        self.registration = registration
        self.province = registration.org("province", "CN")
        self.county = registration.org("county", self.province)
        self.township = registration.org("township", self.county)
        self.branch = registration.org("branch", self.township)
        self.branch2 = registration.org("branch", self.township)
        self.township2 = registration.org("township", self.county)
        self.branch3 = registration.org("branch", self.township2)
        self.county2 = registration.org("county", self.province)
        self.township3 = registration.org("township", self.county2)
        self.branch4 = registration.org("branch", self.township3)
        self.officer = bearer("township_officer", self.township, sub=f"officer-{self.township}")
        self.officer2 = bearer("township_officer", self.township2, sub=f"officer-{self.township2}")
        self.county_department = bearer("org_department", self.county, sub=f"dept-{self.county}")

    def member(self, branch: str | None = None) -> tuple[str, dict[str, str]]:
        """A member id (not registered: claims need only the token) and its bearer header."""
        member_id = unique_code("M")
        return member_id, bearer("member", branch or self.branch, sub=member_id)

    def registered_member(self, branch: str | None = None) -> tuple[str, dict[str, str]]:
        member_id = self.registration.member(branch or self.branch)
        return member_id, bearer("member", branch or self.branch, sub=member_id)


@pytest.fixture(scope="module")
def world(registration: Registration) -> World:
    """Shared by a module: tests use fresh tasks and members in it."""
    return World(registration)


@pytest.fixture
def fresh_world(registration: Registration) -> World:
    """A world of its own, for tests that count everything in a subtree."""
    return World(registration)


def task_body(org_code: str, **overrides: Any) -> dict[str, Any]:
    from datetime import date, timedelta

    body: dict[str, Any] = {
        "title": "为独居老人送餐",
        "description": "每周两次为社区独居老人送餐并陪聊",
        "org_code": org_code,
        "category": "elderly_care",
        "capacity": 3,
        "due_on": (date.today() + timedelta(days=30)).isoformat(),
        "points": 15,
    }
    body.update(overrides)
    return body
