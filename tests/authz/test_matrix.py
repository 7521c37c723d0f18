"""The authorization matrix: every endpoint × every role × own/other subtree, with the status
each must get. "own" actors sit above the target's branch (tree A); "other" actors sit in an
unrelated tree C; the transfer destination is tree B. A member acting for another member, and
anyone acting across branches or townships, must be refused."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.faults.harness import create_branch, fresh_member_body
from tests.support.builders import unique_code
from tests.support.tokens import ADMIN, bearer

ACTORS = [
    "member_self",
    "member_other",
    "member_far",
    "secretary_own",
    "secretary_other",
    "officer_own",
    "officer_other",
    "department_own",
    "department_other",
    "admin",
    "service",
]
DENY = 403


@dataclass
class World:
    urls: dict[str, str]
    a: dict[str, str]
    b: dict[str, str]
    c: dict[str, str]
    member_a2: str
    member_c: str

    def member(self, branch: str | None = None) -> str:
        response = requests.post(
            f"{self.urls['registration']}/api/v1/members",
            json=fresh_member_body(branch or self.a["branch"]),
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def headers(self, actor: str, target_member: str) -> dict[str, str]:
        a, c = self.a, self.c
        return {
            "member_self": lambda: bearer("member", a["branch"], sub=target_member),
            "member_other": lambda: bearer("member", a["branch"], sub=self.member_a2),
            "member_far": lambda: bearer("member", c["branch"], sub=self.member_c),
            "secretary_own": lambda: bearer("branch_secretary", a["branch"]),
            "secretary_other": lambda: bearer("branch_secretary", c["branch"]),
            "officer_own": lambda: bearer("township_officer", a["township"]),
            "officer_other": lambda: bearer("township_officer", c["township"]),
            "department_own": lambda: bearer("org_department", a["county"]),
            "department_other": lambda: bearer("org_department", c["county"]),
            "admin": lambda: ADMIN,
            "service": lambda: bearer("service", "CN", sub="svc:authz"),
        }[actor]()


@pytest.fixture(scope="module")
def world(proof) -> World:
    urls = {s: proof.url(s) for s in ("registration", "transfer", "tasks", "notify")}
    trees = [create_branch(urls["registration"]) for _ in range(3)]
    partial = World(urls, *trees, member_a2="", member_c="")
    partial.member_a2 = partial.member()
    partial.member_c = partial.member(trees[2]["branch"])
    return partial


# --- the requests of each endpoint (each makes the fresh state it acts on) ---------------------

Call = Callable[[World, str], requests.Response]


def _send(method: str, url: str, headers: dict[str, str], body: Any = None) -> requests.Response:
    return requests.request(method, url, json=body, headers=headers, timeout=30)


def create_org(w: World, actor: str) -> requests.Response:
    body = {"code": unique_code("BR"), "name": "支部", "level": "branch", "parent_code": w.a["township"]}
    return _send("POST", f"{w.urls['registration']}/api/v1/orgs", w.headers(actor, ""), body)


def create_member(w: World, actor: str) -> requests.Response:
    return _send(
        "POST",
        f"{w.urls['registration']}/api/v1/members",
        w.headers(actor, ""),
        fresh_member_body(w.a["branch"]),
    )


def read_member(w: World, actor: str) -> requests.Response:
    member = w.member()
    return _send("GET", f"{w.urls['registration']}/api/v1/members/{member}", w.headers(actor, member))


def read_mobility(w: World, actor: str) -> requests.Response:
    member = w.member()
    return _send(
        "GET", f"{w.urls['registration']}/api/v1/members/{member}/mobility", w.headers(actor, member)
    )


def list_members(w: World, actor: str) -> requests.Response:
    url = f"{w.urls['registration']}/api/v1/members?branch={w.a['branch']}"
    return _send("GET", url, w.headers(actor, w.member_a2))


def ledger(w: World, actor: str) -> requests.Response:
    url = f"{w.urls['registration']}/api/v1/ledger?org={w.a['branch']}&format=json"
    return _send("GET", url, w.headers(actor, w.member_a2))


def outflow(w: World, actor: str) -> requests.Response:
    member = w.member()
    body = {
        "destination_region": "350300",
        "destination_address": "福建省莆田市",
        "occupation": "工人",
        "departed_on": date.today().isoformat(),
        "reason": "务工",
        "contact_phone": "13800001111",
    }
    return _send(
        "POST", f"{w.urls['registration']}/api/v1/members/{member}/outflows", w.headers(actor, member), body
    )


def checkin(w: World, actor: str) -> requests.Response:
    member = w.member()
    kind = "self" if actor.startswith("member") else "grid_survey"
    body = {"member_id": member, "branch_code": w.a["branch"], "kind": kind}
    return _send("POST", f"{w.urls['registration']}/api/v1/checkins", w.headers(actor, member), body)


def list_checkins(w: World, actor: str) -> requests.Response:
    url = f"{w.urls['registration']}/api/v1/checkins?branch={w.a['branch']}"
    return _send("GET", url, w.headers(actor, w.member_a2))


def move_relationship(w: World, actor: str) -> requests.Response:
    member = w.member()
    body = {"branch_code": w.b["branch"], "transfer_id": uuid.uuid4().hex}
    return _send(
        "POST",
        f"{w.urls['registration']}/api/v1/members/{member}/relationship",
        w.headers(actor, member),
        body,
    )


def _transfer(w: World) -> tuple[str, str]:
    member = w.member()
    response = _send(
        "POST",
        f"{w.urls['transfer']}/api/v1/transfers",
        bearer("branch_secretary", w.a["branch"]),
        {"member_id": member, "to_branch_code": w.b["branch"], "reason": "工作调动"},
    )
    assert response.status_code == 201, response.text
    return member, response.json()["id"]


def apply_transfer(w: World, actor: str) -> requests.Response:
    member = w.member()
    body = {"member_id": member, "to_branch_code": w.b["branch"], "reason": "工作调动"}
    return _send("POST", f"{w.urls['transfer']}/api/v1/transfers", w.headers(actor, member), body)


def read_transfer(w: World, actor: str) -> requests.Response:
    member, transfer = _transfer(w)
    return _send("GET", f"{w.urls['transfer']}/api/v1/transfers/{transfer}", w.headers(actor, member))


def decide_transfer(w: World, actor: str) -> requests.Response:
    member, transfer = _transfer(w)
    return _send(
        "POST",
        f"{w.urls['transfer']}/api/v1/transfers/{transfer}/decisions",
        w.headers(actor, member),
        {"decision": "approve"},
    )


def cancel_transfer(w: World, actor: str) -> requests.Response:
    member, transfer = _transfer(w)
    return _send(
        "POST",
        f"{w.urls['transfer']}/api/v1/transfers/{transfer}/cancel",
        w.headers(actor, member),
        {"reason": "不走了"},
    )


def _task(w: World, publish: bool) -> str:
    body = {
        "title": "帮扶独居老人",
        "description": "每周两次上门",
        "org_code": w.a["township"],
        "category": "elderly",
        "capacity": 5,
        "due_on": (date.today() + timedelta(days=30)).isoformat(),
    }
    response = _send("POST", f"{w.urls['tasks']}/api/v1/tasks", ADMIN, body)
    assert response.status_code == 201, response.text
    task = response.json()["id"]
    if publish:
        published = _send("POST", f"{w.urls['tasks']}/api/v1/tasks/{task}/publish", ADMIN)
        assert published.status_code == 200, published.text
    return task


def create_task(w: World, actor: str) -> requests.Response:
    body = {
        "title": "清理河道",
        "description": "周末",
        "org_code": w.a["township"],
        "category": "environment",
        "due_on": (date.today() + timedelta(days=30)).isoformat(),
    }
    return _send("POST", f"{w.urls['tasks']}/api/v1/tasks", w.headers(actor, ""), body)


def publish_task(w: World, actor: str) -> requests.Response:
    task = _task(w, publish=False)
    return _send("POST", f"{w.urls['tasks']}/api/v1/tasks/{task}/publish", w.headers(actor, ""))


def claim_task(w: World, actor: str) -> requests.Response:
    task = _task(w, publish=True)
    member = w.member()
    return _send(
        "POST",
        f"{w.urls['tasks']}/api/v1/tasks/{task}/claims",
        w.headers(actor, member),
        {"commitment": "我来"},
    )


def _claimed(w: World) -> tuple[str, str]:
    task, member = _task(w, publish=True), w.member()
    response = _send(
        "POST",
        f"{w.urls['tasks']}/api/v1/tasks/{task}/claims",
        bearer("member", w.a["branch"], sub=member),
        {"commitment": "我来"},
    )
    assert response.status_code == 201, response.text
    return task, member


def assign_task(w: World, actor: str) -> requests.Response:
    task, member = _task(w, publish=True), w.member()
    return _send(
        "POST",
        f"{w.urls['tasks']}/api/v1/tasks/{task}/assignments",
        w.headers(actor, member),
        {"member_id": member},
    )


def cancel_task(w: World, actor: str) -> requests.Response:
    task = _task(w, publish=True)
    return _send(
        "POST", f"{w.urls['tasks']}/api/v1/tasks/{task}/cancel", w.headers(actor, ""), {"reason": "取消"}
    )


def withdraw_claim(w: World, actor: str) -> requests.Response:
    task, member = _claimed(w)
    return _send("DELETE", f"{w.urls['tasks']}/api/v1/tasks/{task}/claims/{member}", w.headers(actor, member))


def report_progress(w: World, actor: str) -> requests.Response:
    task, member = _claimed(w)
    return _send(
        "POST",
        f"{w.urls['tasks']}/api/v1/tasks/{task}/progress",
        w.headers(actor, member),
        {"note": "已上门两次", "percent": 40},
    )


def run_digest(w: World, actor: str) -> requests.Response:
    return _send("POST", f"{w.urls['notify']}/api/v1/digests", w.headers(actor, ""), {})


def deliveries(w: World, actor: str) -> requests.Response:
    return _send("GET", f"{w.urls['notify']}/api/v1/deliveries", w.headers(actor, ""))


# --- the matrix -----------------------------------------------------------------------------------
# Expected status per actor; a set where the contract leaves the choice open between refusals
# (e.g. 403 for the wrong org vs 409 for the wrong stage). Success never appears in such a set.

OWN_ORG = {"secretary_own", "officer_own", "department_own", "admin"}
MEMBERS = {"member_self", "member_other", "member_far"}


def row(ok: int, allowed: set[str], **special: int | set[int]) -> dict[str, int | set[int]]:
    return {actor: special.get(actor, ok if actor in allowed else DENY) for actor in ACTORS}


MATRIX: dict[str, tuple[Call, dict[str, int | set[int]]]] = {
    "POST /orgs": (create_org, row(201, {"department_own", "admin"})),
    "POST /members": (create_member, row(201, OWN_ORG)),
    # A fellow member of the same branch sees the record masked (test_pii checks the masking).
    "GET /members/{id}": (read_member, row(200, OWN_ORG | {"member_self", "member_other", "service"})),
    "GET /members/{id}/mobility": (read_mobility, row(200, OWN_ORG | {"member_self", "service"})),
    "GET /members?branch=": (list_members, row(200, OWN_ORG | {"service"})),
    "GET /ledger?org=": (ledger, row(200, OWN_ORG | {"service"})),
    "POST /members/{id}/outflows": (outflow, row(201, OWN_ORG | {"member_self", "service"})),
    "POST /checkins": (
        checkin,
        row(201, {"member_self", "secretary_own", "officer_own", "admin", "service"}),
    ),
    # A member's listing is narrowed to their own check-ins (test_member_lists_only_own_checkins).
    "GET /checkins?branch=": (list_checkins, row(200, OWN_ORG | MEMBERS | {"service"})),
    "POST /members/{id}/relationship": (move_relationship, row(200, {"service"})),
    "POST /transfers": (
        apply_transfer,
        # API.md: the member, or the sending branch's secretary; nobody else applies.
        row(201, {"member_self", "secretary_own"}),
    ),
    "GET /transfers/{id}": (read_transfer, row(200, OWN_ORG | {"member_self", "service"})),
    "POST /transfers/{id}/decisions": (
        decide_transfer,
        row(200, {"secretary_own", "admin"}, officer_own={403, 409}, department_own={403, 409}),
    ),
    "POST /transfers/{id}/cancel": (cancel_transfer, row(200, {"member_self", "secretary_own", "admin"})),
    "POST /tasks": (create_task, row(201, {"officer_own", "admin"})),
    "POST /tasks/{id}/publish": (publish_task, row(200, {"officer_own", "department_own", "admin"})),
    "POST /tasks/{id}/claims": (claim_task, row(201, {"member_self", "member_other"})),
    "POST /tasks/{id}/assignments": (assign_task, row(201, {"officer_own", "department_own", "admin"})),
    "POST /tasks/{id}/cancel": (cancel_task, row(200, {"officer_own", "department_own", "admin"})),
    # The claimant withdraws, or an officer removes them; nobody else.
    "DELETE /tasks/{id}/claims/{member}": (
        withdraw_claim,
        row(200, {"member_self", "officer_own", "department_own", "admin"}),
    ),
    "POST /tasks/{id}/progress": (report_progress, row(201, {"member_self"})),
    "GET /deliveries": (deliveries, row(200, {"admin", "service"})),
    "POST /digests": (run_digest, row(200, {"admin", "service"})),
}


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_authorization_matrix(world, endpoint):
    call, expected = MATRIX[endpoint]
    got: dict[str, int] = {}
    for actor in ACTORS:
        got[actor] = call(world, actor).status_code
    wrong = {
        actor: (got[actor], want)
        for actor, want in expected.items()
        if got[actor] not in (want if isinstance(want, set) else {want})
    }
    assert not wrong, f"{endpoint}: actor → (got, expected): {wrong}"


def test_member_lists_only_own_checkins(world):
    mine, theirs = world.member(), world.member()
    for member in (mine, theirs):
        assert checkin(world, "admin").status_code == 201  # someone else's, recorded by the admin
        response = _send(
            "POST",
            f"{world.urls['registration']}/api/v1/checkins",
            bearer("member", world.a["branch"], sub=member),
            {"member_id": member, "branch_code": world.a["branch"], "kind": "self"},
        )
        assert response.status_code == 201
    listed = _send(
        "GET",
        f"{world.urls['registration']}/api/v1/checkins?branch={world.a['branch']}",
        bearer("member", world.a["branch"], sub=mine),
    )
    assert listed.status_code == 200
    assert {item["member_id"] for item in listed.json()["items"]} == {mine}


def test_no_unauthenticated_access(world):
    """Every /api/v1 path of every document refuses a request without a token (401)."""
    for service, base in world.urls.items():
        spec = requests.get(f"{base}/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            concrete = path.replace("{", "X").replace("}", "")
            for method in operations:
                if method == "parameters":
                    continue
                status = requests.request(method, f"{base}{concrete}", json={}, timeout=10).status_code
                assert status == 401, f"{service} {method.upper()} {path} without a token: {status}"


def test_notifications_of_one_branch_are_invisible_to_another(world):
    member = world.member()
    response = _send(
        "POST",
        f"{world.urls['registration']}/api/v1/checkins",
        bearer("member", world.a["branch"], sub=member),
        {"member_id": member, "branch_code": world.a["branch"], "kind": "self"},
    )
    assert response.status_code == 201
    own, other = bearer("branch_secretary", world.a["branch"]), bearer("branch_secretary", world.c["branch"])
    deadline = time.monotonic() + 30
    items: list[dict[str, Any]] = []
    while not items and time.monotonic() < deadline:
        items = _send("GET", f"{world.urls['notify']}/api/v1/notifications", own).json()["items"]
        time.sleep(0.2)
    assert items, "the check-in never reached its branch secretary"
    notification = items[0]["id"]
    listed = _send("GET", f"{world.urls['notify']}/api/v1/notifications", other).json()["items"]
    assert notification not in {item["id"] for item in listed}
    read = _send("POST", f"{world.urls['notify']}/api/v1/notifications/{notification}/read", other)
    assert read.status_code == 404
    read_by_member = _send(
        "POST",
        f"{world.urls['notify']}/api/v1/notifications/{notification}/read",
        bearer("member", world.a["branch"], sub=member),
    )
    assert read_by_member.status_code == 404
    assert (
        _send("POST", f"{world.urls['notify']}/api/v1/notifications/{notification}/read", own).status_code
        == 200
    )


def test_transfer_inboxes_do_not_leak_across_branches(world):
    _, transfer = _transfer(world)
    own = _send(
        "GET",
        f"{world.urls['transfer']}/api/v1/transfers?box=todo",
        bearer("branch_secretary", world.a["branch"]),
    )
    other = _send(
        "GET",
        f"{world.urls['transfer']}/api/v1/transfers?box=todo",
        bearer("branch_secretary", world.c["branch"]),
    )
    assert own.status_code == 200 and other.status_code == 200
    assert transfer in {item["id"] for item in own.json()["items"]}
    assert transfer not in {item["id"] for item in other.json()["items"]}
    scoped = _send(
        "GET",
        f"{world.urls['transfer']}/api/v1/transfers?org={world.a['branch']}",
        bearer("branch_secretary", world.c["branch"]),
    )
    assert scoped.status_code == 403 or transfer not in {i["id"] for i in scoped.json()["items"]}
