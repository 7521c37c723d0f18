"""GET /api/v1/audit on every service: org departments read the entries about their subtree,
admins all; filters, keyset pages, and no personal data in an item."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notify.app import create_app as notify_app
from services.notify.models import audit_log as notify_audit
from services.registration.app import create_app as registration_app
from services.tasks.app import create_app as tasks_app
from services.tasks.models import audit_log as tasks_audit
from services.transfer.app import create_app as transfer_app
from services.transfer.models import audit_log as transfer_audit
from shared import audit
from shared.db import utcnow
from tests.support.builders import member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer

ITEM_FIELDS = {"id", "at", "actor", "actor_role", "action", "object_type", "object_id", "org_code", "request_id"}


@pytest.fixture(scope="module")
def registration(settings_for, migrated):
    migrated("registration")
    return registration_app(settings_for("registration")).test_client()


def test_registration_audit_is_scoped_filtered_and_paged(registration):
    client = registration
    codes = org_tree(client, ADMIN)
    elsewhere = org_tree(client, ADMIN)
    made = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=ADMIN)
    member = made.get_json()
    reader = unique_code("sec")
    secretary = bearer("branch_secretary", codes["branch"], sub=reader)
    started = utcnow() - timedelta(seconds=1)
    for _ in range(3):
        assert client.get(f"/api/v1/members/{member['id']}", headers=secretary).status_code == 200

    department = bearer("org_department", codes["county"])
    page = client.get(f"/api/v1/audit?member_id={member['id']}&actor={reader}", headers=department)
    assert page.status_code == 200, page.get_json()
    items = page.get_json()["items"]
    assert len(items) == 3 and {item["action"] for item in items} == {"read_full"}
    for item in items:
        assert set(item) == ITEM_FIELDS
        assert item["org_code"] == codes["branch"] and item["object_id"] == member["id"]
        assert member["id_number"] not in str(item) and member["phone"] not in str(item)
    assert [item["id"] for item in items] == sorted((item["id"] for item in items), reverse=True)

    first = client.get(f"/api/v1/audit?member_id={member['id']}&actor={reader}&limit=2", headers=department)
    cursor = first.get_json()["next_cursor"]
    assert cursor and len(first.get_json()["items"]) == 2
    rest = client.get(f"/api/v1/audit?member_id={member['id']}&actor={reader}&limit=2&cursor={cursor}",
                      headers=department).get_json()  # fmt: skip
    assert [i["id"] for i in first.get_json()["items"] + rest["items"]] == [i["id"] for i in items]

    # The creation is an entry about the branch too; filters by org, action and time.
    created = client.get(f"/api/v1/audit?org={codes['branch']}&action=create", headers=department).get_json()
    assert member["id"] in {item["object_id"] for item in created["items"]}
    since = started.isoformat().replace("+00:00", "Z")
    timed = client.get(f"/api/v1/audit?member_id={member['id']}&since={since}", headers=ADMIN).get_json()["items"]
    assert len(timed) >= 4
    until = client.get(f"/api/v1/audit?member_id={member['id']}&until={since}", headers=ADMIN).get_json()["items"]
    assert until == []

    # Another county's department sees nothing of it, even naming the org; others are refused.
    stranger = bearer("org_department", elsewhere["county"])
    assert client.get(f"/api/v1/audit?member_id={member['id']}", headers=stranger).get_json()["items"] == []
    assert client.get(f"/api/v1/audit?org={codes['branch']}", headers=stranger).get_json()["items"] == []
    for headers in (secretary, bearer("township_officer", codes["township"]), bearer("member", codes["branch"]),
                    bearer("service", "CN")):  # fmt: skip
        assert client.get("/api/v1/audit", headers=headers).status_code == 403
    assert client.get("/api/v1/audit").status_code == 401
    for query, field in (
        ("since=yesterday", "since"),
        ("since=9999-12-31T23:59:59-10:00", "since"),  # past the calendar's end in UTC
        ("until=0001-01-01T00:00:00%2B10:00", "until"),
        ("org=x", "org"),
        ("limit=0", "limit"),
        ("who=me", "who"),
    ):
        refused = client.get(f"/api/v1/audit?{query}", headers=ADMIN)
        assert refused.status_code == 422 and field in refused.get_json()["errors"]["query"], query


@pytest.mark.parametrize(
    ("service", "factory", "table"),
    [("transfer", transfer_app, transfer_audit), ("tasks", tasks_app, tasks_audit), ("notify", notify_app, notify_audit)],
)
def test_every_service_reads_its_own_audit_log(service, factory, table, settings_for, migrated):
    database = migrated(service)
    client = factory(settings_for(service)).test_client()
    county, other = unique_code("K"), unique_code("K")
    object_id = unique_code("obj")
    with database.transaction() as session:
        for code in (county, other):
            org = audit.OrgScope(f"{code}-B", f"/CN/P/{code}/T/{code}-B/")
            audit.write(session, table, "actor-1", "branch_secretary", "apply", "transfer", object_id, None, "x", org)
        audit.write(session, table, "actor-1", "admin", "apply", "transfer", object_id, None, None)
    department = bearer("org_department", county)
    mine = client.get("/api/v1/audit?actor=actor-1&action=apply", headers=department)
    assert mine.status_code == 200, mine.get_json()
    codes = [item["org_code"] for item in mine.get_json()["items"] if item["object_id"] == object_id]
    assert codes == [f"{county}-B"]
    everything = client.get("/api/v1/audit?actor=actor-1&limit=200", headers=ADMIN).get_json()["items"]
    assert len([item for item in everything if item["object_id"] == object_id]) == 3
    assert all("detail" not in item for item in everything)
    assert client.get("/api/v1/audit", headers=bearer("branch_secretary", f"{county}-B")).status_code == 403
