"""PII audit: no full ID number or phone number in any list response, log line or event payload.

Members with known ID and phone numbers go through the flows that list, log and publish them;
then every list response, every outbox row of every service, every notification and every
process log of this test session (the e2e, fault and proof stacks) is scanned: for those exact
values, and for anything shaped like a valid resident ID or a mobile number.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from services.registration.domain import id_check_digit
from tests.faults.harness import create_branch, fresh_member_body
from tests.support.tokens import ADMIN, bearer

ID_SHAPE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dX])(?![0-9A-Za-z])")
PHONE_SHAPE = re.compile(r"(?<![0-9A-Za-z*])(1[3-9]\d{9})(?![0-9A-Za-z*])")


def pii_in(text: str, known: Iterable[str] = ()) -> set[str]:
    """Full ID numbers (with a valid check digit) and mobile numbers found in `text`."""
    found = {value for value in known if value in text}
    found |= {m for m in ID_SHAPE.findall(text) if id_check_digit(m[:17]) == m[17]}
    found |= set(PHONE_SHAPE.findall(text))
    return found


def test_scanner_finds_what_it_must():
    body = fresh_member_body("BR-X")
    text = json.dumps({"a": body["id_number"], "b": f"tel {body['phone']}."})
    assert pii_in(text) == {body["id_number"], body["phone"]}
    masked = {"id_number": "1201**********1234", "phone": "138****5678", "id": "0660db97905493b33e"}
    assert pii_in(json.dumps(masked)) == set()


@pytest.fixture(scope="module")
def people(proof) -> dict[str, object]:
    registration, transfer = proof.url("registration"), proof.url("transfer")
    tree, elsewhere = create_branch(registration), create_branch(registration)
    branch = tree["branch"]
    bodies = [fresh_member_body(branch) for _ in range(4)]
    ids = []
    for body in bodies:
        response = requests.post(f"{registration}/api/v1/members", json=body, headers=ADMIN, timeout=10)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    contact = f"139{bodies[0]['phone'][3:]}"  # type: ignore[index]
    outflow = requests.post(
        f"{registration}/api/v1/members/{ids[0]}/outflows",
        json={
            "destination_region": "350300",
            "destination_address": "福建省莆田市北岸",
            "occupation": "电工",
            "departed_on": "2026-01-05",
            "reason": "务工",
            "contact_phone": contact,
        },
        headers=bearer("member", branch, sub=ids[0]),
        timeout=10,
    )
    assert outflow.status_code == 201, outflow.text
    for member in ids:
        checkin = requests.post(
            f"{registration}/api/v1/checkins",
            json={"member_id": member, "branch_code": branch, "kind": "self"},
            headers=bearer("member", branch, sub=member),
            timeout=10,
        )
        assert checkin.status_code == 201, checkin.text
    applied = requests.post(
        f"{transfer}/api/v1/transfers",
        json={"member_id": ids[1], "to_branch_code": elsewhere["branch"], "reason": "工作调动"},
        headers=bearer("member", branch, sub=ids[1]),
        timeout=30,
    )
    assert applied.status_code == 201, applied.text
    known = {str(b["id_number"]) for b in bodies} | {str(b["phone"]) for b in bodies} | {contact}
    return {"tree": tree, "ids": ids, "known": known, "bodies": bodies}


def test_full_record_is_for_those_who_may_see_it_and_masked_for_fellow_members(proof, people):
    registration = proof.url("registration")
    member, fellow = people["ids"][0], people["ids"][2]  # type: ignore[index]
    branch = people["tree"]["branch"]  # type: ignore[index]
    own = requests.get(
        f"{registration}/api/v1/members/{member}", headers=bearer("member", branch, sub=member), timeout=10
    ).json()
    assert own["id_number"] == people["bodies"][0]["id_number"]  # type: ignore[index]
    seen_by_fellow = requests.get(
        f"{registration}/api/v1/members/{member}", headers=bearer("member", branch, sub=fellow), timeout=10
    )
    assert seen_by_fellow.status_code == 200
    assert pii_in(seen_by_fellow.text, people["known"]) == set()  # type: ignore[arg-type]


def test_no_full_pii_in_list_responses(proof, people):
    tree, known = people["tree"], people["known"]
    branch = tree["branch"]  # type: ignore[index]
    member = people["ids"][0]  # type: ignore[index]
    secretary = bearer("branch_secretary", branch)
    lists = {
        "members": (proof.url("registration"), f"/api/v1/members?branch={branch}", secretary),
        "mobile members": (proof.url("registration"), f"/api/v1/members?branch={branch}&mobile=true", ADMIN),
        "ledger json": (proof.url("registration"), f"/api/v1/ledger?org={tree['county']}&format=json", ADMIN),  # type: ignore[index]
        "ledger csv": (proof.url("registration"), f"/api/v1/ledger?org={tree['county']}&format=csv", ADMIN),  # type: ignore[index]
        "check-ins": (proof.url("registration"), f"/api/v1/checkins?branch={branch}", secretary),
        "transfers": (proof.url("transfer"), "/api/v1/transfers?box=todo", secretary),
        "tasks": (proof.url("tasks"), "/api/v1/tasks", ADMIN),
        "notifications": (proof.url("notify"), "/api/v1/notifications", secretary),
        "my notifications": (
            proof.url("notify"),
            "/api/v1/notifications",
            bearer("member", branch, sub=member),
        ),
    }
    leaks = {}
    for name, (base, path, headers) in lists.items():
        response = requests.get(base + path, headers=headers, timeout=30)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:300]}"
        found = pii_in(response.text, known)  # type: ignore[arg-type]
        if found:
            leaks[name] = sorted(found)
    members = requests.get(
        f"{proof.url('registration')}/api/v1/members?branch={branch}", headers=secretary, timeout=10
    ).json()["items"]
    assert len(members) >= 4, "the member list is empty, so it proves nothing"
    assert not leaks, f"full PII in list responses: {leaks}"


@pytest.fixture(scope="module")
def proof_db(proof):
    """The proof stack's own databases, by service."""
    from deploy.processes import service_module, settings_of

    opened = {}

    def get(service):
        if service not in opened:
            settings = settings_of(service, proof.env)
            opened[service] = service_module(service, "app").open_database(settings)
        return opened[service]

    yield get
    for database in opened.values():
        database.dispose()


def _all_outbox_bodies(proof_db) -> list[tuple[str, str, str]]:
    from deploy.processes import service_module

    rows = []
    for service in ("registration", "transfer", "tasks", "notify"):
        models = service_module(service, "models")
        outbox = getattr(models, "outbox", None)
        if outbox is None:
            continue
        with proof_db(service).reader() as session:
            for event_type, body in session.execute(select(outbox.table.c.event_type, outbox.table.c.body)):
                rows.append((service, event_type, body))
    return rows


def test_no_full_pii_in_event_payloads_or_notifications(proof, people, proof_db):
    from services.notify.models import Notification

    known = people["known"]
    deadline = time.monotonic() + 20
    rows = _all_outbox_bodies(proof_db)
    while len(rows) < 10 and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = _all_outbox_bodies(proof_db)
    leaks = {
        f"{service} {event_type}": sorted(found)
        for service, event_type, body in rows
        if (found := pii_in(body, known))
    }  # type: ignore[arg-type]
    assert rows, "no events to audit"
    assert not leaks, f"full PII in event payloads: {leaks}"
    with proof_db("notify").reader() as session:
        texts = session.execute(select(Notification.type, Notification.title, Notification.body)).all()
    notification_leaks = {t.type for t in texts if pii_in(f"{t.title} {t.body}", known)}  # type: ignore[arg-type]
    assert not notification_leaks, f"full PII in notifications of types {notification_leaks}"


def test_no_full_pii_in_any_process_log_of_the_session(proof, people, tmp_path_factory):
    # Let the stack's relays, consumers and workers handle the people fixture's traffic first.
    time.sleep(2)
    base = Path(tmp_path_factory.getbasetemp())
    logs = [p for p in base.glob("*-logs*/*.log") if p.is_file()]
    assert any("proof-logs" in str(p.parent) for p in logs), "the stack's logs were not found"
    leaks: dict[str, list[str]] = {}
    lines = 0
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            found = pii_in(line, people["known"])  # type: ignore[arg-type]
            if found:
                leaks.setdefault(f"{path.parent.name}/{path.name}", []).append(
                    f"line {number}: {sorted(found)}"
                )
    print(f"PII log scan: {len(logs)} files, {lines} lines, {len(leaks)} with leaks")
    assert not leaks, f"full PII in process logs: {leaks}"
