"""The thin slice over HTTP: a check-in at a branch reaches that branch's secretary's inbox."""

import time

import requests

from tests.support.builders import member_body, unique_code
from tests.support.tokens import ADMIN, bearer


def create_branch(base: str) -> str:
    parent = "CN"
    code = ""
    for level in ("province", "county", "township", "branch"):
        code = unique_code(level[:2].upper())
        response = requests.post(
            f"{base}/api/v1/orgs",
            json={"code": code, "name": f"{level}-{code}", "level": level, "parent_code": parent},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        parent = code
    return code


def test_checkin_notifies_the_branch_secretary(slice_stack):
    registration = slice_stack.url("registration")
    notify = slice_stack.url("notify")
    branch = create_branch(registration)
    member = requests.post(
        f"{registration}/api/v1/members", json=member_body(branch, name="赵强"), headers=ADMIN, timeout=10
    ).json()
    me = bearer("member", branch, sub=member["id"])
    checkin = requests.post(
        f"{registration}/api/v1/checkins",
        json={"member_id": member["id"], "branch_code": branch, "kind": "self"},
        headers=me,
        timeout=10,
    )
    assert checkin.status_code == 201, checkin.text

    secretary = bearer("branch_secretary", branch)
    deadline = time.monotonic() + 30
    items: list[dict] = []
    while time.monotonic() < deadline and not items:
        response = requests.get(f"{notify}/api/v1/notifications?unread=true", headers=secretary, timeout=10)
        assert response.status_code == 200
        items = [
            item for item in response.json()["items"] if item["type"] == "registration.member_checked_in.v1"
        ]
        time.sleep(0.2)
    assert len(items) == 1, slice_stack.tail("notify-consumer")
    assert "赵强" in items[0]["title"]
    assert items[0]["type"] == "registration.member_checked_in.v1"

    read = requests.post(
        f"{notify}/api/v1/notifications/{items[0]['id']}/read", headers=secretary, timeout=10
    )
    assert read.status_code == 200 and read.json()["read_at"]
    # Another branch's secretary sees nothing of it.
    other = requests.get(
        f"{notify}/api/v1/notifications", headers=bearer("branch_secretary", "ELSEWHERE"), timeout=10
    ).json()
    assert all(item["id"] != items[0]["id"] for item in other["items"])
