"""The transfer API over its Flask test client: auth, validation, scope, 404, letter serials; then
the boxes and the dashboard driven through real transfers.

The first tests need no Temporal. The box tests run the real process: a Temporal dev server and
the transfer worker on a private event loop thread, and the registration app on a local port
(orgs, members, routes and the relationship move are real)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from services.transfer import caller_proof, domain
from services.transfer.app import create_app
from services.transfer.commands import build_plan
from services.transfer.messages import AuditItem, CallerProof, DecisionRequest
from services.transfer.projection import next_letter_sequence
from services.transfer.workflows import TransferWorkflow
from shared.errors import Unavailable
from shared.settings import Settings
from tests.support.builders import member_body, unique_code
from tests.support.tokens import ADMIN, bearer
from tests.support.transfer_live import live_registration, live_transfer_api
from tests.workflows.transfer_support import audits_of, insert_projection, path_of, route_for


@pytest.fixture(scope="module")
def registration_url(settings_for: Callable[..., Settings], migrated: Any) -> Iterator[str]:
    """The registration app on a free local port: the transfer service reads org paths from it."""
    migrated("registration")
    with live_registration(settings_for("registration")) as url:
        yield url


@pytest.fixture(scope="module")
def client(settings_for: Callable[..., Settings], migrated: Any, registration_url: str) -> FlaskClient:
    migrated("transfer")
    settings = settings_for("transfer", service_urls={"registration": registration_url})
    return create_app(settings).test_client()


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
    assert client.get("/api/v1/transfers?scope=world", headers=ADMIN).status_code == 422
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
    assert stats == {
        "todo": 1,
        "overdue": 0,
        "in_this_year": 0,
        "out_this_year": 0,
        "pending": 0,
        "coming": 0,
        "overdue_by_stage": {},
        "in_by_province": [],
        "out_by_province": [],
    }
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


# --- boxes and stats through real transfers ---------------------------------------------------

# Short deadlines for the live transfers: a stage turns overdue after two seconds; a letter to
# another province (only the re-issue test goes there) expires after a few.
OVERDUE_AFTER = timedelta(seconds=2)
CROSS_PROVINCE_VALIDITY = timedelta(seconds=4)


@pytest.fixture(scope="module")
def live(
    settings_for: Callable[..., Settings], migrated: Any, registration_url: str
) -> Iterator[FlaskClient]:
    """The transfer API with a Temporal dev server and a transfer worker behind it."""
    migrated("transfer")
    with live_transfer_api(
        settings_for,
        registration_url,
        stage_remind_after=timedelta(seconds=1),
        stage_overdue_after=OVERDUE_AFTER,
        letter_validity={
            **settings_for("transfer").letter_validity,
            "cross_province": CROSS_PROVINCE_VALIDITY,
        },
    ) as client:
        yield client


def new_org(registration: str, level: str, parent: str) -> str:
    code = unique_code(level[:2].upper())
    body = {"code": code, "name": f"{level} {code}", "level": level, "parent_code": parent}
    response = requests.post(f"{registration}/api/v1/orgs", json=body, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return code


def new_member(registration: str, branch: str) -> str:
    response = requests.post(
        f"{registration}/api/v1/members", json=member_body(branch), headers=ADMIN, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def tree(registration_url: str) -> dict[str, str]:
    """A fresh province: county C1 with townships T1 (branch B1) and T2 (B2); county C2 with T3 (B3)."""
    province = new_org(registration_url, "province", "CN")
    codes = {"P": province}
    for county, townships in (("C1", ("1", "2")), ("C2", ("3",))):
        codes[county] = new_org(registration_url, "county", province)
        for n in townships:
            codes[f"T{n}"] = new_org(registration_url, "township", codes[county])
            codes[f"B{n}"] = new_org(registration_url, "branch", codes[f"T{n}"])
    return codes


def apply_for(live: FlaskClient, registration: str, branch: str, to_branch: str) -> tuple[str, str]:
    member_id = new_member(registration, branch)
    body = {"member_id": member_id, "to_branch_code": to_branch, "reason": "工作调动"}
    response = live.post("/api/v1/transfers", json=body, headers=bearer("member", branch, member_id))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"], member_id


def decide(live: FlaskClient, transfer_id: str, headers: dict[str, str], decision: str = "approve") -> str:
    body: dict[str, str] = {"decision": decision}
    if decision != "approve":
        body["reason"] = "请补充材料"
    response = live.post(f"/api/v1/transfers/{transfer_id}/decisions", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["status"]


def boxes_of(live: FlaskClient, transfer_id: str, headers: dict[str, str], query: str = "") -> set[str]:
    """The boxes in which the caller sees the transfer."""
    found = set()
    for box in domain.BOXES:
        response = live.get(f"/api/v1/transfers?box={box}&limit=200{query}", headers=headers)
        assert response.status_code == 200, (box, response.get_json())
        if transfer_id in [item["id"] for item in response.get_json()["items"]]:
            found.add(box)
    return found


def ids_in(live: FlaskClient, box: str, headers: dict[str, str]) -> list[str]:
    response = live.get(f"/api/v1/transfers?box={box}&limit=200", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def registration_org_name(registration: str, code: str) -> str:
    response = requests.get(f"{registration}/api/v1/orgs/{code}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["name"])


def stats_of(live: FlaskClient, org: str) -> dict[str, int]:
    response = live.get(f"/api/v1/stats/transfers?org={org}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_org_sees_the_transfer_in_the_box_of_its_step(live, registration_url, tree):
    transfer_id, member_id = apply_for(live, registration_url, tree["B1"], tree["B2"])
    sending = bearer("branch_secretary", tree["B1"])
    township = bearer("township_officer", tree["T1"])
    receiving = bearer("branch_secretary", tree["B2"])
    member = bearer("member", tree["B1"], member_id)

    def seen() -> dict[str, set[str]]:
        return {
            who: boxes_of(live, transfer_id, headers)
            for who, headers in (("sending", sending), ("township", township), ("receiving", receiving))
        }

    # Fresh: only the sending branch has something to do; the receiving branch's turn is ahead.
    assert transfer_id not in ids_in(live, "pending", receiving)
    assert seen() == {"sending": {"todo"}, "township": {"coming"}, "receiving": {"coming"}}
    assert boxes_of(live, transfer_id, member) == {"pending"}

    assert decide(live, transfer_id, sending) == "pending_township"
    assert seen() == {"sending": {"pending"}, "township": {"todo"}, "receiving": {"coming"}}

    assert decide(live, transfer_id, township) == "pending_receiving_branch"
    assert seen() == {"sending": {"pending"}, "township": {"pending"}, "receiving": {"todo"}}

    # Letter issued: every step is done, the member has not arrived (未办结).
    assert decide(live, transfer_id, receiving) == "letter_issued"
    assert transfer_id in ids_in(live, "pending", receiving)
    assert seen() == {"sending": {"pending"}, "township": {"pending"}, "receiving": {"pending"}}
    assert boxes_of(live, transfer_id, member) == {"todo"}

    reported = live.post(f"/api/v1/transfers/{transfer_id}/report", json={}, headers=member)
    assert reported.status_code == 200 and reported.get_json()["status"] == "completed"
    assert seen() == {"sending": {"done"}, "township": {"done"}, "receiving": {"done"}}


def test_each_applied_action_is_audited_with_its_request_and_a_refused_one_is_not(
    live, registration_url, tree, migrated
):
    transfer_id, member_id = apply_for(live, registration_url, tree["B1"], tree["B2"])
    sending = {**bearer("branch_secretary", tree["B1"], "sec-b1"), "X-Request-ID": "req-sending"}
    outsider = {**bearer("branch_secretary", tree["B3"], "sec-b3"), "X-Request-ID": "req-outsider"}
    township = {**bearer("township_officer", tree["T1"], "off-t1"), "X-Request-ID": "req-township"}
    refused = live.post(
        f"/api/v1/transfers/{transfer_id}/decisions", json={"decision": "approve"}, headers=outsider
    )
    assert refused.status_code == 403
    assert decide(live, transfer_id, sending) == "pending_township"
    # The sending branch's stage is done: its second approval is a 409, and not audited.
    again = live.post(
        f"/api/v1/transfers/{transfer_id}/decisions", json={"decision": "approve"}, headers=sending
    )
    assert again.status_code == 409
    assert decide(live, transfer_id, township, "return") == "returned"
    applied, *decided = audits_of(migrated("transfer"), transfer_id)
    assert applied[:3] == (member_id, "member", "apply") and applied[3]  # a request id given by the API
    assert decided == [
        ("sec-b1", "branch_secretary", "decide:approve", "req-sending"),
        ("off-t1", "township_officer", "decide:return", "req-township"),
    ]


class FirstTemporalCallsFail:
    """Wraps the API's Temporal gateway: its first `count` calls time out; the first one after
    reaching the server or not."""

    def __init__(self, gateway: Any, reaches_server: bool, count: int) -> None:
        self.gateway = gateway
        self.reaches_server = reaches_server
        self.calls = 0
        self.count = count

    def call(self, operation: Any, timeout: float = 30.0) -> Any:
        self.calls += 1
        if self.calls <= self.count:
            if self.calls == 1 and self.reaches_server:  # the start happens; only its answer is lost
                self.gateway.call(operation, timeout)
            raise Unavailable("Temporal did not answer in time")
        return self.gateway.call(operation, timeout)


@contextmanager
def first_temporal_call_fails(live: FlaskClient, reaches_server: bool, count: int = 1) -> Iterator[None]:
    processes = live.application.extensions["nuanliu"].extras["transfer"].processes
    gateway = processes.temporal
    processes.temporal = FirstTemporalCallsFail(gateway, reaches_server, count)
    try:
        yield
    finally:
        processes.temporal = gateway


def application(registration: str, tree: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A new member of B1 applying for B2: (their headers, the body)."""
    member_id = new_member(registration, tree["B1"])
    body = {"member_id": member_id, "to_branch_code": tree["B2"], "reason": "工作调动"}
    return bearer("member", tree["B1"], member_id), body


def test_a_start_whose_answer_is_lost_still_runs_the_transfer(live, registration_url, tree):
    member, body = application(registration_url, tree)
    with first_temporal_call_fails(live, reaches_server=True):
        applied = live.post("/api/v1/transfers", json=body, headers=member)
    assert applied.status_code == 201, applied.get_json()
    transfer_id = applied.get_json()["id"]
    assert applied.get_json()["status"] == "pending_sending_branch"
    # The process is alive, and it still holds the member's one open transfer.
    assert decide(live, transfer_id, bearer("branch_secretary", tree["B1"])) == "pending_township"
    again = live.post("/api/v1/transfers", json=body, headers=member)
    assert again.status_code == 409, again.get_json()


def test_a_lost_start_is_found_when_temporal_answers_late(live, registration_url, tree):
    member, body = application(registration_url, tree)
    # The start lands but its answer is lost, and the first look for it times out too.
    with first_temporal_call_fails(live, reaches_server=True, count=2):
        applied = live.post("/api/v1/transfers", json=body, headers=member)
    assert applied.status_code == 201, applied.get_json()
    transfer_id = applied.get_json()["id"]
    assert decide(live, transfer_id, bearer("branch_secretary", tree["B1"])) == "pending_township"
    assert live.post("/api/v1/transfers", json=body, headers=member).status_code == 409


def test_a_start_that_fails_ends_the_transfer_visibly_and_frees_the_member(live, registration_url, tree):
    member, body = application(registration_url, tree)
    with first_temporal_call_fails(live, reaches_server=False):
        refused = live.post("/api/v1/transfers", json=body, headers=member)
    assert refused.status_code == 503, refused.get_json()
    mine = live.get("/api/v1/transfers?box=done&limit=200", headers=member).get_json()["items"]
    assert [(item["status"], bool(item["failure_reason"])) for item in mine] == [("failed", True)]
    retried = live.post("/api/v1/transfers", json=body, headers=member)
    assert retried.status_code == 201, retried.get_json()


def test_a_resubmit_puts_the_later_stages_ahead_again(live, registration_url, tree):
    transfer_id, member_id = apply_for(live, registration_url, tree["B1"], tree["B2"])
    sending = bearer("branch_secretary", tree["B1"])
    township = bearer("township_officer", tree["T1"])
    receiving = bearer("branch_secretary", tree["B2"])
    decide(live, transfer_id, sending)
    assert decide(live, transfer_id, township, "return") == "returned"
    # Returned to the applicant: both have acted; the receiving branch still waits its turn.
    assert boxes_of(live, transfer_id, sending) == {"pending"}
    assert boxes_of(live, transfer_id, township) == {"pending"}
    assert boxes_of(live, transfer_id, receiving) == {"coming"}

    member = bearer("member", tree["B1"], member_id)
    response = live.post(
        f"/api/v1/transfers/{transfer_id}/resubmit", json={"reason": "已补充"}, headers=member
    )
    assert response.status_code == 200 and response.get_json()["status"] == "pending_sending_branch"
    # The chain starts again: the township's earlier decision no longer counts.
    assert boxes_of(live, transfer_id, sending) == {"todo"}
    assert boxes_of(live, transfer_id, township) == {"coming"}
    cancelled = live.post(
        f"/api/v1/transfers/{transfer_id}/cancel", json={"reason": "不调了"}, headers=member
    )
    assert cancelled.status_code == 200
    assert boxes_of(live, transfer_id, sending) == {"done"}


def test_a_county_dashboard_counts_its_townships_and_branches(live, registration_url, tree):
    # X waits at township T1 in county C1 (same county, to B2); it turns overdue there.
    waiting, _ = apply_for(live, registration_url, tree["B1"], tree["B2"])
    decide(live, waiting, bearer("branch_secretary", tree["B1"]))
    # Y comes into C1 from county C2 and its receiving branch B2 has approved: C1's step is done.
    arriving, arriving_member = apply_for(live, registration_url, tree["B3"], tree["B2"])
    for headers in (
        bearer("branch_secretary", tree["B3"]),
        bearer("township_officer", tree["T3"]),
        bearer("org_department", tree["C2"]),
        bearer("branch_secretary", tree["B2"]),
    ):
        decide(live, arriving, headers)

    deadline = time.monotonic() + 30
    while stats_of(live, tree["C1"])["overdue"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    counts = stats_of(live, tree["C1"])
    assert (counts["todo"], counts["overdue"], counts["pending"]) == (1, 1, 1)
    assert counts == {
        "todo": 1,
        "overdue": 1,
        "in_this_year": 0,
        "out_this_year": 0,
        "pending": 1,
        "coming": 0,
        "overdue_by_stage": {"township": 1},
        "in_by_province": [],
        "out_by_province": [],
    }
    # Per township: T1 holds X; above B2, T2 has Y's step done and X's still ahead.
    assert stats_of(live, tree["T1"]) == {
        "todo": 1,
        "overdue": 1,
        "in_this_year": 0,
        "out_this_year": 0,
        "pending": 0,
        "coming": 0,
        "overdue_by_stage": {"township": 1},
        "in_by_province": [],
        "out_by_province": [],
    }
    assert stats_of(live, tree["T2"]) == {
        "todo": 0,
        "overdue": 0,
        "in_this_year": 0,
        "out_this_year": 0,
        "pending": 1,
        "coming": 1,
        "overdue_by_stage": {},
        "in_by_province": [],
        "out_by_province": [],
    }
    # The county department's own token reads the same dashboard.
    department = bearer("org_department", tree["C1"])
    own = live.get("/api/v1/stats/transfers", headers=department).get_json()
    assert own == stats_of(live, tree["C1"])
    # The lists behind the counts: the county's own boxes hold neither; its subtree's hold both.
    assert boxes_of(live, waiting, department) == set()
    assert boxes_of(live, waiting, department, "&scope=subtree") == {"todo"}
    assert boxes_of(live, arriving, department, "&scope=subtree") == {"pending"}
    assert boxes_of(live, arriving, department, f"&org={tree['B2']}") == {"pending"}
    assert live.get(f"/api/v1/stats/transfers?org={tree['C2']}", headers=department).status_code == 403

    member = bearer("member", tree["B3"], arriving_member)
    assert live.post(f"/api/v1/transfers/{arriving}/report", json={}, headers=member).status_code == 200
    after = stats_of(live, tree["C1"])
    assert (after["in_this_year"], after["out_this_year"], after["pending"]) == (1, 0, 0)
    assert stats_of(live, tree["C2"])["out_this_year"] == 1
    assert stats_of(live, tree["P"])["in_this_year"] == 1 and stats_of(live, tree["P"])["out_this_year"] == 1
    # By province (of the other side): C2 sent to C1, both in province P.
    province = {"code": tree["P"], "name": registration_org_name(registration_url, tree["P"]), "count": 1}
    assert after["in_by_province"] == [province] and after["out_by_province"] == []
    assert stats_of(live, tree["C2"])["out_by_province"] == [province]


def test_an_expired_letter_is_reissued_by_the_sending_secretary(live, registration_url, tree):
    far = new_org(registration_url, "province", "CN")
    far_county = new_org(registration_url, "county", far)
    far_branch = new_org(registration_url, "branch", new_org(registration_url, "township", far_county))
    transfer_id, member_id = apply_for(live, registration_url, tree["B1"], far_branch)
    url = f"/api/v1/transfers/{transfer_id}"
    sending = bearer("branch_secretary", tree["B1"])
    member = bearer("member", tree["B1"], member_id)
    # Not expired: the sending secretary and the admin get 409; anyone else 403 first.
    assert live.post(f"{url}/reissue", json={}, headers=sending).status_code == 409
    assert live.post(f"{url}/reissue", json={}, headers=ADMIN).status_code == 409
    for outsider in (member, bearer("branch_secretary", far_branch), bearer("township_officer", tree["T1"])):
        assert live.post(f"{url}/reissue", json={}, headers=outsider).status_code == 403
    for headers in (
        sending,
        bearer("township_officer", tree["T1"]),
        bearer("org_department", tree["C1"]),
        bearer("org_department", far_county),  # issue 21: the receiving county
        bearer("branch_secretary", far_branch),
    ):
        decide(live, transfer_id, headers)
    first = live.get(url, headers=ADMIN).get_json()
    assert first["status"] == "letter_issued"
    deadline = time.monotonic() + 30
    while live.get(url, headers=ADMIN).get_json()["status"] != "expired" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert live.get(url, headers=ADMIN).get_json()["status"] == "expired"
    assert live.post(f"{url}/reissue", json={}, headers=member).status_code == 403
    assert (
        live.post(f"{url}/reissue", json={}, headers=bearer("branch_secretary", tree["B2"])).status_code
        == 403
    )

    # The member applied again meanwhile: one open transfer per member, so no re-issue (409).
    other, _ = apply_for_member(live, tree["B1"], member_id, tree["B2"])
    assert live.post(f"{url}/reissue", json={}, headers=sending).status_code == 409
    cancelled = live.post(f"/api/v1/transfers/{other}/cancel", json={"reason": "重开介绍信"}, headers=member)
    assert cancelled.status_code == 200

    response = live.post(f"{url}/reissue", json={"reason": "到期未报到"}, headers=sending)
    assert response.status_code == 200, response.get_json()
    reissued = response.get_json()
    assert reissued["status"] == "letter_issued" and reissued["current_stage"] is None
    assert reissued["letter"]["number"] != first["letter"]["number"]
    assert [e["action"] for e in reissued["timeline"]][-3:] == ["expire", "reissue", "issue_letter"]
    assert reissued["timeline"][-2]["reason"] == "到期未报到"
    # A second re-issue finds the letter issued again.
    assert live.post(f"{url}/reissue", json={}, headers=sending).status_code == 409
    reported = live.post(f"{url}/report", json={}, headers=member)
    assert reported.status_code == 200 and reported.get_json()["status"] == "completed"
    moved = requests.get(f"{registration_url}/api/v1/members/{member_id}", headers=ADMIN, timeout=10)
    assert moved.json()["branch_code"] == far_branch


def apply_for_member(live: FlaskClient, branch: str, member_id: str, to_branch: str) -> tuple[str, str]:
    body = {"member_id": member_id, "to_branch_code": to_branch, "reason": "再次申请"}
    response = live.post("/api/v1/transfers", json=body, headers=bearer("member", branch, member_id))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"], member_id


# --- security review, finding 2: Temporal is no side door --------------------------------------


def test_an_update_sent_straight_to_temporal_without_the_apis_proof_is_refused_and_not_audited(
    live, registration_url, tree, migrated
):
    transfer_id, _ = apply_for(live, registration_url, tree["B1"], tree["B2"])
    settings = live.application.extensions["nuanliu"].settings
    stage = "sending_branch"

    def forged(
        actor: str, proof: CallerProof | None = None, audit_actor: str | None = None
    ) -> DecisionRequest:
        audit = AuditItem(audit_actor or actor, "branch_secretary", "decide:approve", None, tree["B1"])
        return DecisionRequest("approve", actor, None, stage, audit, proof)

    now = int(time.time())
    # A real proof, for the secretary's decision in an update the attacker saw go by.
    seen_id = str(uuid.uuid4())
    seen_audit = AuditItem("sec-b1", "branch_secretary", "decide:approve", None, tree["B1"])
    seen = caller_proof.sign(settings.transfer_proof_key, transfer_id, seen_id, seen_audit, now)
    attempts = [
        (forged("attacker"), str(uuid.uuid4())),  # no proof
        (forged("attacker", CallerProof(now, "0" * 64)), str(uuid.uuid4())),  # a wrong proof
        (forged("attacker", seen), seen_id),  # the secretary's proof, for another actor
        (forged("sec-b1", seen, audit_actor="attacker"), seen_id),  # ... or audited as another
        (forged("sec-b1", seen), str(uuid.uuid4())),  # ... or on another update
        (forged("sec-b1", CallerProof(now - 3600, seen.mac)), seen_id),  # an old one
    ]

    async def send_straight(request: DecisionRequest, update_id: str) -> str:
        client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        handle = client.get_workflow_handle(f"transfer-{transfer_id}")
        try:
            await handle.execute_update(TransferWorkflow.decide, request, id=update_id)
        except WorkflowUpdateFailedError as refused:
            assert isinstance(refused.cause, ApplicationError)
            return refused.cause.type or ""
        return "accepted"

    for request, update_id in attempts:
        assert asyncio.run(send_straight(request, update_id)) == "Forbidden", request
    # Nothing was decided, and only the application is in the audit log.
    view = live.get(f"/api/v1/transfers/{transfer_id}", headers=ADMIN).get_json()
    assert view["status"] == "pending_sending_branch"
    assert [row[2] for row in audits_of(migrated("transfer"), transfer_id)] == ["apply"]
    assert "attacker" not in {entry["actor"] for entry in view["timeline"]}

    # The API's own decisions still go through, and are audited.
    assert decide(live, transfer_id, bearer("branch_secretary", tree["B1"], "sec-b1")) == "pending_township"
    assert [row[:3] for row in audits_of(migrated("transfer"), transfer_id)][1:] == [
        ("sec-b1", "branch_secretary", "decide:approve")
    ]
