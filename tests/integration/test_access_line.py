"""Every request writes one JSON access line: method, route template, status, duration, the
caller's `sub`, the trace id, the request and correlation ids and the service; never the path's
ids, a token or personal data."""

from __future__ import annotations

import io
import json
import logging
import re

from services.registration.app import create_app
from shared.logging import JsonFormatter
from tests.support.builders import member_body, org_tree
from tests.support.tokens import ADMIN, bearer


def test_a_check_in_writes_one_access_line_with_its_route_and_caller(settings_for, migrated):
    migrated("registration")
    client = create_app(settings_for("registration")).test_client()
    codes = org_tree(client, ADMIN)
    member = client.post("/api/v1/members", json=member_body(codes["branch"], name="钱多多"), headers=ADMIN).get_json()
    me = bearer("member", codes["branch"], member["id"])

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter("registration"))
    access = logging.getLogger("nuanliu.access")
    access.addHandler(handler)
    try:
        answer = client.post(
            "/api/v1/checkins",
            json={"member_id": member["id"], "branch_code": codes["branch"], "kind": "self"},
            headers={**me, "X-Request-ID": "req-access-1", "X-Correlation-ID": "corr-access-1"},
        )
        client.get(f"/api/v1/members/{member['id']}", headers=me)
    finally:
        access.removeHandler(handler)
    assert answer.status_code == 201

    checkin, read = (json.loads(line) for line in written.getvalue().splitlines())
    assert {key: checkin[key] for key in ("service", "logger", "message", "method", "route", "status")} == {
        "service": "registration",
        "logger": "nuanliu.access",
        "message": "request",
        "method": "POST",
        "route": "/api/v1/checkins",
        "status": 201,
    }
    assert (checkin["request_id"], checkin["correlation_id"]) == ("req-access-1", "corr-access-1")
    assert checkin["sub"] == member["id"] and checkin["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", checkin["time"])
    # The route template, not the member's id; never the token or the member's name.
    assert read["route"] == "/api/v1/members/<string:member_id>"
    line = written.getvalue()
    assert member["id"] not in line.replace(f'"sub": "{member["id"]}"', "")
    assert me["Authorization"].split()[1] not in line and "钱多多" not in line
