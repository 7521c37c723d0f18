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


def _sample(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_pipeline_metrics_move_on_every_process(slice_stack):
    """Each process answers its own scrape, and a check-in moves the request counter of the API,
    the relay's published count and the consumer's handled count."""
    registration = slice_stack.url("registration")
    relay = slice_stack.health_url("registration-relay")
    consumer = slice_stack.health_url("notify-consumer")
    assert requests.get(f"{relay}/healthz", timeout=5).json()["status"] == "ok"
    assert requests.get(f"{consumer}/healthz", timeout=5).json()["status"] == "ok"

    def scrape() -> tuple[float, float, float]:
        api = requests.get(f"{registration}/metrics", timeout=5).text
        return (
            _sample(api, "nuanliu_http_requests_total", endpoint="/api/v1/checkins", status="201"),
            _sample(requests.get(f"{relay}/metrics", timeout=5).text, "nuanliu_relay_published_total"),
            _sample(
                requests.get(f"{consumer}/metrics", timeout=5).text,
                "nuanliu_consumer_handled_total",
                event_type="registration.member_checked_in.v1",
            ),
        )

    before = scrape()
    branch = create_branch(registration)
    for name in ("钱一", "钱二", "钱三"):
        member = requests.post(
            f"{registration}/api/v1/members", json=member_body(branch, name=name), headers=ADMIN, timeout=10
        ).json()
        answer = requests.post(
            f"{registration}/api/v1/checkins",
            json={"member_id": member["id"], "branch_code": branch, "kind": "self"},
            headers=bearer("member", branch, sub=member["id"]),
            timeout=10,
        )
        assert answer.status_code == 201
    deadline = time.monotonic() + 30
    after = scrape()
    while time.monotonic() < deadline and after[2] < before[2] + 3:
        time.sleep(0.3)
        after = scrape()
    assert after[0] == before[0] + 3, (before, after)
    assert after[1] >= before[1] + 3, (before, after)  # members and orgs were published too
    assert after[2] >= before[2] + 3, (before, after)
    backlog = requests.get(f"{relay}/metrics", timeout=5).text
    assert "nuanliu_outbox_pending" in backlog and "nuanliu_outbox_oldest_age_seconds" in backlog
