"""Approval as secretaries do it (issue 21), on a real Temporal dev server, transfer worker and
registration app: the approver's view (`member`, `allowed_actions`), dues before the move, urging
(催办), acting for an overdue stage (代办), batch decisions, and the receiving county's stage.

`allowed_actions` is checked against the endpoints themselves: for a matrix of callers at each
state, an action is listed iff its endpoint accepts it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import select, update

from services.registration.models import Member
from services.transfer import domain
from services.transfer.models import audit_log, outbox
from shared.clock import local_today, month_of
from shared.db import Database
from shared.settings import Settings
from tests.integration.test_transfer_api import first_temporal_call_fails, new_member, new_org
from tests.support.builders import member_body
from tests.support.tokens import ADMIN, bearer
from tests.support.transfer_live import live_registration, live_transfer_api
from tests.workflows.transfer_support import audits_of

# Long enough that "before overdue" is surely before it on a loaded machine; short enough to wait.
OVERDUE_AFTER = timedelta(seconds=6)


@pytest.fixture(scope="module")
def registration_url(settings_for: Callable[..., Settings], migrated: Any) -> Iterator[str]:
    """The registration app on a free local port: orgs, members, routes and moves are real."""
    migrated("registration")
    with live_registration(settings_for("registration")) as url:
        yield url


@pytest.fixture(scope="module")
def live(
    settings_for: Callable[..., Settings], migrated: Any, registration_url: str
) -> Iterator[FlaskClient]:
    """The transfer API with a Temporal dev server and a transfer worker behind it."""
    migrated("transfer")
    with live_transfer_api(
        settings_for,
        registration_url,
        stage_remind_after=timedelta(seconds=2),
        stage_overdue_after=OVERDUE_AFTER,
    ) as client:
        yield client


@pytest.fixture
def tree(registration_url: str) -> dict[str, str]:
    """Province P: county C1 (township T1 with branches B1, B2), county C2 (T3, B3); province PF
    far away: county CF, township TF, branch BF."""
    codes = {"P": new_org(registration_url, "province", "CN")}
    for county, townships in (("C1", ("1",)), ("C2", ("3",))):
        codes[county] = new_org(registration_url, "county", codes["P"])
        for n in townships:
            codes[f"T{n}"] = new_org(registration_url, "township", codes[county])
    codes["B1"] = new_org(registration_url, "branch", codes["T1"])
    codes["B2"] = new_org(registration_url, "branch", codes["T1"])
    codes["B3"] = new_org(registration_url, "branch", codes["T3"])
    codes["PF"] = new_org(registration_url, "province", "CN")
    codes["CF"] = new_org(registration_url, "county", codes["PF"])
    codes["TF"] = new_org(registration_url, "township", codes["CF"])
    codes["BF"] = new_org(registration_url, "branch", codes["TF"])
    return codes


def org_name(code: str) -> str:
    """The name new_org gives an org: its level, then its code (codes start with the level)."""
    level = {"BR": "branch", "TO": "township", "CO": "county", "PR": "province"}[code[:2]]
    return f"{level} {code}"


def apply(
    live: FlaskClient, registration: str, branch: str, to_branch: str, **member: Any
) -> tuple[str, str]:
    """A new member of `branch` (with `member` overriding the builder's fields) applies."""
    if member:
        created = requests.post(
            f"{registration}/api/v1/members", json=member_body(branch, **member), headers=ADMIN, timeout=10
        )
        assert created.status_code == 201, created.text
        member_id = created.json()["id"]
    else:
        member_id = new_member(registration, branch)
    body = {"member_id": member_id, "to_branch_code": to_branch, "reason": "工作调动"}
    applied = live.post("/api/v1/transfers", json=body, headers=bearer("member", branch, member_id))
    assert applied.status_code == 201, applied.get_json()
    return applied.get_json()["id"], member_id


def post(live: FlaskClient, transfer_id: str, action: str, headers: dict[str, str], **body: Any) -> Any:
    path = "decisions" if action in domain.DECISIONS else action
    if action in domain.DECISIONS:
        body = {"decision": action, **({"reason": "请补充材料"} if action != "approve" else {}), **body}
    if action == "cancel":
        body.setdefault("reason", "不调了")
    return live.post(f"/api/v1/transfers/{transfer_id}/{path}", json=body, headers=headers)


def decide_ok(live: FlaskClient, transfer_id: str, headers: dict[str, str], action: str = "approve") -> str:
    response = post(live, transfer_id, action, headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["status"]


def view_of(live: FlaskClient, transfer_id: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = live.get(f"/api/v1/transfers/{transfer_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def events(database: Database, transfer_id: str, event_type: str) -> list[dict[str, Any]]:
    with database.reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body)
            .where(outbox.table.c.subject == transfer_id, outbox.table.c.event_type == event_type)
            .order_by(outbox.table.c.seq)
        ).all()
    found = [json.loads(body) for body in bodies]
    return [body.get("data", body) for body in found]


def wait_overdue(live: FlaskClient, transfer_id: str) -> None:
    deadline = time.monotonic() + OVERDUE_AFTER.total_seconds() + 30
    while not (view_of(live, transfer_id)["current_stage"] or {}).get("overdue"):
        assert time.monotonic() < deadline, "the stage never turned overdue"
        time.sleep(0.3)


# --- the approver's view, and allowed_actions against the endpoints --------------------------


def test_the_transfer_shows_the_member_and_what_each_caller_may_do(live, registration_url, tree):
    transfer_id, member_id = apply(live, registration_url, tree["B1"], tree["B2"])
    sending = bearer("branch_secretary", tree["B1"])
    view = view_of(live, transfer_id, sending)
    member = view["member"]
    assert member["name"] == "李明" and member["gender"] == "male" and member["status"] == "full"
    assert member["birth_year"] == 1990 and member["joined_on"] == "2015-07-01"
    assert (member["dues_paid_through"], member["dues_months_behind"]) == (month_of(local_today()), 0)
    assert "id_number" not in member and "phone" not in member
    assert view["allowed_actions"] == ["approve", "reject", "return", "cancel", "urge"]
    own = view_of(live, transfer_id, bearer("member", tree["B1"], member_id))["allowed_actions"]
    assert own == ["cancel", "urge"]
    # After its decision the sending secretary has no decision buttons left (the complaint).
    decide_ok(live, transfer_id, sending)
    assert view_of(live, transfer_id, sending)["allowed_actions"] == ["cancel", "urge"]
    assert view_of(live, transfer_id, bearer("branch_secretary", tree["B2"]))["allowed_actions"] == []


def _callers(tree: dict[str, str], member_id: str) -> dict[str, dict[str, str]]:
    return {
        "member": bearer("member", tree["B1"], member_id),
        "other_member": bearer("member", tree["B1"], "someone-else"),
        "sending": bearer("branch_secretary", tree["B1"]),
        "township": bearer("township_officer", tree["T1"]),
        "county": bearer("org_department", tree["C1"]),
        "receiving": bearer("branch_secretary", tree["B2"]),
        "outsider": bearer("branch_secretary", tree["B3"]),
        "admin": ADMIN,
    }


def _at(live: FlaskClient, registration: str, tree: dict[str, str], state: str) -> tuple[str, str]:
    """A fresh transfer B1 → B2 (same county: sending branch, township, receiving branch) at `state`."""
    transfer_id, member_id = apply(live, registration, tree["B1"], tree["B2"])
    steps = {
        "pending_sending_branch": [],
        "pending_township": [("sending", "approve")],
        "returned": [("sending", "return")],
        "letter_issued": [("sending", "approve"), ("township", "approve"), ("receiving", "approve")],
    }[state]
    callers = _callers(tree, member_id)
    for who, action in steps:
        decide_ok(live, transfer_id, callers[who], action)
    return transfer_id, member_id


def _listed(live: FlaskClient, transfer_id: str, headers: dict[str, str]) -> set[str]:
    response = live.get(f"/api/v1/transfers/{transfer_id}", headers=headers)
    return set(response.get_json()["allowed_actions"]) if response.status_code == 200 else set()


def _steady(live: FlaskClient, transfer_id: str) -> None:
    """Not within a second of the stage's due time: a department above may act for an overdue
    stage, so a listing and a call across that instant would ask two different questions."""
    stage = view_of(live, transfer_id)["current_stage"]
    if stage and stage["due_at"] and not stage["overdue"]:
        left = (datetime.fromisoformat(stage["due_at"]) - datetime.now(UTC)).total_seconds()
        if -1.0 < left < 1.5:
            time.sleep(left + 1.5)


@pytest.mark.parametrize("state", ["pending_sending_branch", "pending_township", "returned", "letter_issued"])
def test_allowed_actions_lists_exactly_what_the_endpoints_accept(live, registration_url, tree, state):
    """For every caller and action: listed in allowed_actions iff the endpoint answers 200. A
    refusal changes nothing, so refusals are tried on one transfer; an acceptance on a new one."""
    shared, member_id = _at(live, registration_url, tree, state)
    accepted = 0
    for who in _callers(tree, member_id):
        for action in domain.ACTIONS:
            target, headers = shared, _callers(tree, member_id)[who]
            _steady(live, target)
            listed = action in _listed(live, target, headers)
            if listed:  # it would be done: do it on a transfer of its own
                target, fresh_member = _at(live, registration_url, tree, state)
                headers = _callers(tree, fresh_member)[who]
                _steady(live, target)
                listed = action in _listed(live, target, headers)
            response = post(live, target, action, headers)
            assert (response.status_code == 200) == listed, (state, who, action, response.get_json())
            accepted += listed
        assert view_of(live, shared)["status"] == state  # every refusal left it as it was
    assert accepted, "no caller may do anything: the matrix proves nothing"


# --- dues before the move ---------------------------------------------------------------------


def test_the_sending_branch_approves_only_once_dues_are_paid_through_this_month(
    live, registration_url, tree, migrated
):
    this_month = month_of(local_today())
    behind = "2026-01" if this_month > "2026-01" else "2025-01"
    transfer_id, member_id = apply(live, registration_url, tree["B1"], tree["B2"], dues_paid_through=behind)
    sending = bearer("branch_secretary", tree["B1"])
    view = view_of(live, transfer_id, sending)
    assert view["member"]["dues_paid_through"] == behind and view["member"]["dues_months_behind"] > 0
    assert "approve" not in view["allowed_actions"] and "return" in view["allowed_actions"]
    refused = post(live, transfer_id, "approve", sending)
    assert refused.status_code == 409, refused.get_json()
    assert "dues_paid_through" in refused.get_json()["errors"]["json"]
    refused = post(live, transfer_id, "approve", ADMIN)  # the rule is the stage's, not the caller's
    assert refused.status_code == 409

    # Dues recorded (straight in registration's table until the ledger's POST /dues lands here).
    with migrated("registration").transaction() as session:
        session.execute(update(Member).where(Member.id == member_id).values(dues_paid_through=this_month))
    assert "approve" in view_of(live, transfer_id, sending)["allowed_actions"]
    assert decide_ok(live, transfer_id, sending) == "pending_township"
    decide_ok(live, transfer_id, bearer("township_officer", tree["T1"]))
    assert decide_ok(live, transfer_id, bearer("branch_secretary", tree["B2"])) == "letter_issued"
    assert view_of(live, transfer_id)["letter"]["dues_paid_through"] == this_month  # not the stale month


# --- urging (催办) --------------------------------------------------------------------------------


def test_urging_names_the_stage_once_a_day_per_caller_and_stage(live, registration_url, tree, migrated):
    transfer_id, member_id = apply(live, registration_url, tree["B1"], tree["B2"])
    member = bearer("member", tree["B1"], member_id, name="李明")
    url = f"/api/v1/transfers/{transfer_id}/urge"
    urged = live.post(url, json={"note": "下周要入职"}, headers=member)
    assert urged.status_code == 200, urged.get_json()
    entry = urged.get_json()["timeline"][-1]
    assert (entry["action"], entry["stage"], entry["actor"], entry["note"]) == (
        "urge",
        "sending_branch",
        member_id,
        "下周要入职",
    )
    again = live.post(url, json={}, headers=member)
    assert again.status_code == 429
    assert 0 < int(again.headers["Retry-After"]) <= 24 * 3600
    # Others urge on their own count; outsiders and the receiving side may not urge at all.
    assert live.post(url, json={}, headers=bearer("branch_secretary", tree["B1"])).status_code == 200
    assert live.post(url, json={}, headers=bearer("township_officer", tree["T1"])).status_code == 200
    for outsider in (bearer("branch_secretary", tree["B2"]), bearer("org_department", tree["C2"]), ADMIN):
        assert live.post(url, json={}, headers=outsider).status_code == 403
    assert live.post(url, json={"note": "x" * 501}, headers=member).status_code == 422
    assert "urge" not in view_of(live, transfer_id, member)["allowed_actions"]

    database = migrated("transfer")
    (first, *_) = events(database, transfer_id, "transfer.urged.v1")
    assert first["urged_stage"] == "sending_branch" and first["urged_stage_org_code"] == tree["B1"]
    assert first["urged_stage_org_name"] == org_name(tree["B1"]) and first["note"] == "下周要入职"
    assert (first["actor"], first["actor_name"], first["actor_org_code"]) == (member_id, "李明", tree["B1"])
    assert first["stage_label"] == "转出支部审核" and first["from_branch_name"] == org_name(tree["B1"])
    assert first["waiting_since"].endswith("+00:00")
    with database.reader() as session:
        actions = session.scalars(
            select(audit_log.c.action).where(
                audit_log.c.object_id == transfer_id, audit_log.c.action == "urge"
            )
        ).all()
    assert len(actions) == 3

    # The next stage is another stage: the member may urge it at once.
    decide_ok(live, transfer_id, bearer("branch_secretary", tree["B1"]))
    assert live.post(url, json={}, headers=member).status_code == 200


def test_two_urges_at_once_pass_once(live, registration_url, tree):
    transfer_id, member_id = apply(live, registration_url, tree["B1"], tree["B2"])
    member = bearer("member", tree["B1"], member_id)
    app = live.application
    barrier = threading.Barrier(4)

    def urge(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        return client.post(f"/api/v1/transfers/{transfer_id}/urge", json={}, headers=member).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(urge, range(4)))
    assert statuses == [200, 429, 429, 429]


# --- acting for an overdue stage (代办) --------------------------------------------------------------


def test_an_org_department_above_acts_for_an_overdue_stage(live, registration_url, tree, migrated):
    transfer_id, _ = apply(live, registration_url, tree["B1"], tree["B2"])
    county = bearer("org_department", tree["C1"], "zuzhibu-c1", name="王部长")
    # Before the stage is overdue: 403, and the button is not shown.
    before = post(live, transfer_id, "approve", county, reason="书记外出")
    assert before.status_code == 403, before.get_json()
    assert "approve" not in view_of(live, transfer_id, county)["allowed_actions"]

    wait_overdue(live, transfer_id)
    assert {"approve", "reject", "return"} <= set(view_of(live, transfer_id, county)["allowed_actions"])
    # Only an org department above: not a township officer above, not another county's department.
    assert (
        post(live, transfer_id, "approve", bearer("township_officer", tree["T1"]), reason="r").status_code
        == 409
    )
    assert (
        post(live, transfer_id, "approve", bearer("org_department", tree["C2"]), reason="r").status_code
        == 403
    )
    no_reason = post(live, transfer_id, "approve", county)
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]["json"]
    done = post(live, transfer_id, "approve", county, reason="书记外出，逾期代办")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "pending_township"
    entry = next(e for e in done.get_json()["timeline"] if e["action"] == "approve")
    assert entry["note"] == f"代 {org_name(tree['B1'])} 办理"
    assert (entry["acted_for_org_code"], entry["org_code"], entry["actor"]) == (
        tree["B1"],
        tree["B1"],
        "zuzhibu-c1",
    )

    database = migrated("transfer")
    (decided,) = events(database, transfer_id, "transfer.stage_decided.v1")
    assert (decided["acted_for_org_code"], decided["acted_for_org_name"]) == (
        tree["B1"],
        org_name(tree["B1"]),
    )
    assert (decided["actor_name"], decided["actor_org_code"]) == ("王部长", tree["C1"])
    assert decided["stage_label"] == "乡镇（街道）党委审批" and decided["stage_org_name"] == org_name(
        tree["T1"]
    )
    with database.reader() as session:
        audited = session.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail).where(
                audit_log.c.object_id == transfer_id, audit_log.c.action == "decide:approve"
            )
        ).all()
    assert [tuple(row) for row in audited] == [
        ("zuzhibu-c1", "decide:approve", f"acted for {tree['B1']} (overdue stage)")
    ]


# --- batch decisions --------------------------------------------------------------------------------


def test_a_batch_decides_each_item_as_the_single_endpoint_and_a_retry_is_safe(
    live, registration_url, tree, migrated
):
    sending = bearer("branch_secretary", tree["B1"])
    first, _ = apply(live, registration_url, tree["B1"], tree["B2"])
    second, _ = apply(live, registration_url, tree["B1"], tree["B2"])
    elsewhere, _ = apply(live, registration_url, tree["B3"], tree["B2"])
    items = [
        {"transfer_id": first, "decision": "approve"},
        {"transfer_id": second, "decision": "return"},  # no reason: 422 naming it
        {"transfer_id": elsewhere, "decision": "approve"},  # another branch's: 403
        {"transfer_id": "no-such-transfer", "decision": "approve"},  # 404
        {"transfer_id": second, "decision": "maybe"},  # 422 naming decision
    ]
    headers = {**sending, "Idempotency-Key": f"batch-{uuid.uuid4()}", "X-Request-ID": "req-batch"}
    response = live.post("/api/v1/transfers/decisions", json={"items": items}, headers=headers)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    # Each item is audited as its single decision would be, with the batch's request id.
    assert audits_of(migrated("transfer"), first)[1:] == [
        ("branch_secretary-" + tree["B1"], "branch_secretary", "decide:approve", "req-batch")
    ]
    assert [(r["transfer_id"], r["status"]) for r in results] == [
        (first, 200),
        (second, 422),
        (elsewhere, 403),
        ("no-such-transfer", 404),
        (second, 422),
    ]
    assert results[0]["transfer"]["status"] == "pending_township" and "error" not in results[0]
    assert "reason" in results[1]["error"]["errors"]["json"]
    assert "decision" in results[4]["error"]["errors"]["json"]
    # The same batch again with its key: the first answer, nothing decided twice.
    replay = live.post("/api/v1/transfers/decisions", json={"items": items}, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == response.get_json()
    # Without the key the approval is a second decision of a decided stage: 409, as single.
    again = live.post("/api/v1/transfers/decisions", json={"items": items[:1]}, headers=sending)
    assert again.get_json()["results"][0]["status"] == 409
    assert view_of(live, first)["status"] == "pending_township"

    # Sizes: 1 to 100 items.
    for size in (0, 101):
        body = {"items": [{"transfer_id": first, "decision": "approve"}] * size}
        refused = live.post("/api/v1/transfers/decisions", json=body, headers=sending)
        assert refused.status_code == 422 and "items" in refused.get_json()["errors"]["json"]
    assert (
        live.post(
            "/api/v1/transfers/decisions", json={"items": items}, headers=bearer("member", tree["B1"], "m")
        ).status_code
        == 403
    )


def test_a_batch_whose_item_failed_on_temporal_runs_again_and_replays_the_done_items(
    live, registration_url, tree
):
    sending = bearer("branch_secretary", tree["B1"])
    failing, _ = apply(live, registration_url, tree["B1"], tree["B2"])
    passing, _ = apply(live, registration_url, tree["B1"], tree["B2"])
    items = [{"transfer_id": failing, "decision": "approve"}, {"transfer_id": passing, "decision": "approve"}]
    headers = {**sending, "Idempotency-Key": f"batch-{uuid.uuid4()}"}
    with first_temporal_call_fails(live, reaches_server=False):
        response = live.post("/api/v1/transfers/decisions", json={"items": items}, headers=headers)
    first = response.get_json()["results"]
    # Items run side by side: whichever reached Temporal first failed.
    assert sorted(r["status"] for r in first) == [200, 503]
    done = next(r for r in first if r["status"] == 200)
    retried = live.post("/api/v1/transfers/decisions", json={"items": items}, headers=headers)
    assert retried.headers.get("Idempotent-Replayed") is None  # the batch ran again...
    results = retried.get_json()["results"]
    assert [r["status"] for r in results] == [200, 200]  # ...and the done item replayed its 200, not a 409
    assert done in results
    assert {view_of(live, t)["status"] for t in (failing, passing)} == {"pending_township"}


# --- the receiving county (cross-province) ------------------------------------------------------


def test_a_cross_province_transfer_waits_at_the_receiving_county(live, registration_url, tree, migrated):
    transfer_id, member_id = apply(live, registration_url, tree["B1"], tree["BF"])
    holders = [
        (bearer("branch_secretary", tree["B1"]), "pending_township"),
        (bearer("township_officer", tree["T1"]), "pending_county"),
        (bearer("org_department", tree["C1"]), "pending_receiving_county"),
        (bearer("org_department", tree["CF"]), "pending_receiving_branch"),
        (bearer("branch_secretary", tree["BF"]), "letter_issued"),
    ]
    receiving_county = bearer("org_department", tree["CF"])
    for headers, status in holders:
        if status == "pending_receiving_branch":  # the receiving county's turn
            view = view_of(live, transfer_id, receiving_county)
            assert view["current_stage"]["org_code"] == tree["CF"]
            assert view["allowed_actions"] == ["approve", "reject", "return"]
            todo = live.get("/api/v1/transfers?box=todo", headers=receiving_county).get_json()["items"]
            assert transfer_id in [item["id"] for item in todo]
            assert (
                post(live, transfer_id, "approve", bearer("branch_secretary", tree["BF"])).status_code == 409
            )
        assert decide_ok(live, transfer_id, headers) == status
    reported = live.post(
        f"/api/v1/transfers/{transfer_id}/report", json={}, headers=bearer("member", tree["B1"], member_id)
    )
    assert reported.status_code == 200 and reported.get_json()["status"] == "completed"
    stages = [e["stage"] for e in reported.get_json()["timeline"] if e["action"] == "approve"]
    assert stages == ["sending_branch", "township", "county", "receiving_county", "receiving_branch"]
    decided = events(migrated("transfer"), transfer_id, "transfer.stage_decided.v1")
    county_step = next(e for e in decided if e["decided_stage"] == "county")
    assert county_step["stage"] == "receiving_county"
    assert county_step["stage_label"] == "接收方县级党委组织部审批"
    assert county_step["stage_org_name"] == org_name(tree["CF"])
    assert (county_step["from_branch_name"], county_step["to_branch_name"]) == (
        org_name(tree["B1"]),
        org_name(tree["BF"]),
    )
