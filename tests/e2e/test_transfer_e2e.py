"""A cross-province transfer over HTTP, from a Lichuan village branch to a Shaoxing branch.

Real processes: Temporal dev server, registration/transfer/notify APIs under gunicorn, the
transfer worker, the relays and the notify consumer. Each actor has its own token.
"""

from __future__ import annotations

import time

import requests

from shared.clock import local_today, month_of
from tests.e2e.transfer_stack import lichuan_and_shaoxing, new_member, transfer_stack_fixture  # noqa: F401
from tests.support.stack import Stack
from tests.support.tokens import ADMIN, bearer


def test_cross_province_transfer_end_to_end(transfer_stack: Stack) -> None:
    registration, transfer, notify = (transfer_stack.url(s) for s in ("registration", "transfer", "notify"))
    lichuan, shaoxing = lichuan_and_shaoxing(registration)
    member_id = new_member(registration, lichuan["branch"])
    member = bearer("member", lichuan["branch"], member_id)
    sending = bearer("branch_secretary", lichuan["branch"], "secretary-yumu")
    township = bearer("township_officer", lichuan["township"], "officer-moudao")
    county = bearer("org_department", lichuan["county"], "zuzhibu-lichuan")
    # Issue 21: a cross-province chain has the receiving side's county org department too.
    receiving_county = bearer("org_department", shaoxing["county"], "zuzhibu-keqiao")
    receiving = bearer("branch_secretary", shaoxing["branch"], "secretary-hongjian")
    outsider = bearer("branch_secretary", shaoxing["township"], "someone-else")

    # 422 for bad bodies, naming the field.
    bad = requests.post(
        f"{transfer}/api/v1/transfers", json={"member_id": member_id}, headers=member, timeout=10
    )
    assert bad.status_code == 422 and "to_branch_code" in bad.json()["errors"]["json"]
    body = {"member_id": member_id, "to_branch_code": shaoxing["branch"], "reason": "到绍兴工作"}
    bad = requests.post(f"{transfer}/api/v1/transfers", json={**body, "extra": 1}, headers=member, timeout=10)
    assert bad.status_code == 422 and "extra" in bad.json()["errors"]["json"]
    unknown = {**body, "to_branch_code": "NO-SUCH-BRANCH"}
    bad = requests.post(f"{transfer}/api/v1/transfers", json=unknown, headers=member, timeout=10)
    assert bad.status_code == 422 and "to_branch_code" in bad.json()["errors"]["json"], bad.text
    same = {**body, "to_branch_code": lichuan["branch"]}
    assert (
        requests.post(f"{transfer}/api/v1/transfers", json=same, headers=member, timeout=10).status_code
        == 422
    )
    # Only the member or the sending secretary may apply.
    other = requests.post(f"{transfer}/api/v1/transfers", json=body, headers=receiving, timeout=10)
    assert other.status_code == 403

    created = requests.post(f"{transfer}/api/v1/transfers", json=body, headers=member, timeout=10)
    assert created.status_code == 201, created.text
    view = created.json()
    transfer_id = view["id"]
    assert (view["status"], view["route"]) == ("pending_sending_branch", "cross_province")
    assert view["current_stage"]["org_code"] == lichuan["branch"]
    again = requests.post(f"{transfer}/api/v1/transfers", json=body, headers=member, timeout=10)
    assert again.status_code == 409

    def decide(headers: dict[str, str], decision: str = "approve", **extra: str) -> requests.Response:
        return requests.post(
            f"{transfer}/api/v1/transfers/{transfer_id}/decisions",
            json={"decision": decision, **extra},
            headers=headers,
            timeout=30,
        )

    assert decide(outsider).status_code == 403
    assert decide(sending, "maybe").status_code == 422
    reject_without_reason = decide(sending, "reject")
    assert (
        reject_without_reason.status_code == 422
        and "reason" in reject_without_reason.json()["errors"]["json"]
    )
    assert decide(township).status_code == 409  # the township's stage is not open yet

    todo = requests.get(f"{transfer}/api/v1/transfers?box=todo", headers=sending, timeout=10).json()
    assert transfer_id in [item["id"] for item in todo["items"]]

    expected = [
        "pending_township",
        "pending_county",
        "pending_receiving_county",
        "pending_receiving_branch",
        "letter_issued",
    ]
    holders = (sending, township, county, receiving_county, receiving)
    for headers, status in zip(holders, expected, strict=True):
        if status == "pending_receiving_branch":  # the receiving county's turn: it is in its todo box
            todo = requests.get(f"{transfer}/api/v1/transfers?box=todo", headers=headers, timeout=10).json()
            assert transfer_id in [item["id"] for item in todo["items"]]
            assert decide(receiving).status_code == 409  # the branch's stage is not open yet
        response = decide(headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    assert decide(receiving).status_code == 409  # already decided

    pending = requests.get(f"{transfer}/api/v1/transfers?box=pending", headers=township, timeout=10).json()
    assert transfer_id in [item["id"] for item in pending["items"]]
    letter = requests.get(f"{transfer}/api/v1/transfers/{transfer_id}", headers=member, timeout=10).json()[
        "letter"
    ]
    assert letter["number"].startswith(lichuan["county"] + "-")
    assert letter["dues_paid_through"] == month_of(local_today())  # paid up, as the sending branch approved

    reported = requests.post(
        f"{transfer}/api/v1/transfers/{transfer_id}/report", json={}, headers=member, timeout=60
    )
    assert reported.status_code == 200, reported.text
    final = reported.json()
    assert final["status"] == "completed"
    assert [entry["action"] for entry in final["timeline"]] == [
        "apply",
        "approve",
        "approve",
        "approve",
        "approve",
        "approve",
        "issue_letter",
        "report",
        "complete",
    ]

    moved = requests.get(f"{registration}/api/v1/members/{member_id}", headers=ADMIN, timeout=10).json()
    assert moved["branch_code"] == shaoxing["branch"]

    stats = requests.get(
        f"{transfer}/api/v1/stats/transfers?org={shaoxing['county']}", headers=ADMIN, timeout=10
    )
    assert stats.status_code == 200 and stats.json()["in_this_year"] >= 1
    out = requests.get(f"{transfer}/api/v1/stats/transfers", headers=county, timeout=10).json()
    assert out["out_this_year"] >= 1 and out["todo"] == 0

    # notify tells the member: poll until the relay and the consumer have done their part.
    deadline = time.monotonic() + 30
    types: list[str] = []
    while time.monotonic() < deadline:
        items = requests.get(f"{notify}/api/v1/notifications?limit=200", headers=member, timeout=10).json()[
            "items"
        ]
        types = [item["type"] for item in items]
        if "transfer.completed.v1" in types:
            break
        time.sleep(0.5)
    assert "transfer.completed.v1" in types, types
    assert "transfer.requested.v1" in types and "transfer.letter_issued.v1" in types


def test_cancel_and_return_over_http(transfer_stack: Stack) -> None:
    registration, transfer = transfer_stack.url("registration"), transfer_stack.url("transfer")
    lichuan, shaoxing = lichuan_and_shaoxing(registration)
    member_id = new_member(registration, lichuan["branch"])
    sending = bearer("branch_secretary", lichuan["branch"], "secretary")
    member = bearer("member", lichuan["branch"], member_id)
    body = {"member_id": member_id, "to_branch_code": shaoxing["branch"], "reason": "随迁"}
    created = requests.post(f"{transfer}/api/v1/transfers", json=body, headers=sending, timeout=10)
    assert created.status_code == 201, created.text
    transfer_id = created.json()["id"]
    url = f"{transfer}/api/v1/transfers/{transfer_id}"

    returned = requests.post(
        f"{url}/decisions", json={"decision": "return", "reason": "缺少说明"}, headers=sending, timeout=30
    )
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    assert (
        requests.post(
            f"{url}/decisions", json={"decision": "approve"}, headers=sending, timeout=30
        ).status_code
        == 409
    )
    resubmitted = requests.post(f"{url}/resubmit", json={"reason": "已补充"}, headers=member, timeout=30)
    assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "pending_sending_branch"
    assert requests.post(f"{url}/cancel", json={}, headers=member, timeout=30).status_code == 422
    assert requests.post(f"{url}/report", json={}, headers=member, timeout=30).status_code == 409
    cancelled = requests.post(f"{url}/cancel", json={"reason": "不去了"}, headers=member, timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # Finished: the member may apply again.
    again = requests.post(f"{transfer}/api/v1/transfers", json=body, headers=member, timeout=10)
    assert again.status_code == 201
