"""Findings of the security review that live in the shared web base, each kept closed.

Crafted input is a 4xx naming where it was sent, never a 500 (a forged cursor, JSON nested
thousands deep, a lone surrogate); a client's request id is kept only when it is a plain token;
idempotency keys belong to the caller as they act (sub, role and org); error logs never carry
the values bound to a failing statement; files a process creates are its own alone."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.launcher import venv_env
from services.registration.app import create_app
from services.registration.models import audit_log
from shared.settings import PROJECT_ROOT
from tests.support.builders import org_tree, unique_code
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("values", [[{"id": 1}], [["a"]], [True], ["x" * 500]])
def test_a_forged_cursor_is_a_422_naming_it(client, values):
    response = client.get(f"/api/v1/orgs?cursor={_cursor(values)}", headers=ADMIN)
    assert response.status_code == 422, response.get_json()
    assert "cursor" in response.get_json()["errors"]["query"]


def test_json_nested_thousands_deep_is_refused_before_parsing(client):
    body = "[" * 50_000 + "]" * 50_000
    response = client.post("/api/v1/orgs", data=body, content_type="application/json", headers=ADMIN)
    assert response.status_code == 422
    assert "_schema" in response.get_json()["errors"]["json"]


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    name = "[" * 40 + "支部" + "]" * 40
    response = client.post(
        "/api/v1/orgs",
        json={"code": unique_code("D"), "name": name, "level": "province", "parent_code": "CN"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.get_json()


def test_a_lone_surrogate_is_a_422_naming_the_field(client):
    code = unique_code("S")
    body = '{"code": "' + code + '", "name": "bad \\ud800 name", "level": "province", "parent_code": "CN"}'
    response = client.post("/api/v1/orgs", data=body, content_type="application/json", headers=ADMIN)
    assert response.status_code == 422
    assert "name" in response.get_json()["errors"]["json"]


def test_a_crafted_request_id_never_reaches_the_audit_log(client, migrated):
    codes = org_tree(client, ADMIN)
    forged = "<script>alert(1)</script> spaces"
    response = client.get(f"/api/v1/orgs/{codes['branch']}", headers={**ADMIN, "X-Request-ID": forged})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != forged
    plain = client.get(f"/api/v1/orgs/{codes['branch']}", headers={**ADMIN, "X-Request-ID": "req-42.a:b"})
    assert plain.headers["X-Request-ID"] == "req-42.a:b"
    with migrated("registration").reader() as session:
        stored = session.execute(audit_log.select().where(audit_log.c.request_id == forged)).all()
    assert stored == []


def test_idempotency_keys_belong_to_the_caller_as_they_act(client):
    codes = org_tree(client, ADMIN)
    as_department = bearer("org_department", codes["county"], "dept-x")
    as_admin = bearer("admin", "CN", "dept-x")  # the same person, acting as admin
    key = {"Idempotency-Key": f"k-{unique_code('I')}"}
    body = {"code": unique_code("T"), "name": "镇", "level": "township", "parent_code": codes["county"]}
    first = client.post("/api/v1/orgs", json=body, headers={**as_department, **key})
    assert first.status_code == 201
    again = client.post("/api/v1/orgs", json=body, headers={**as_admin, **key})
    # Not a replay of what the department was answered: the admin's own request runs (and the
    # org now exists, so it conflicts).
    assert again.headers.get("Idempotent-Replayed") is None
    assert again.status_code == 409


def test_error_logs_never_carry_bound_values(settings_for, migrated, caplog):
    database = migrated("registration")
    secret = "11010519491231002X"
    from sqlalchemy import text

    with caplog.at_level(logging.DEBUG):
        try:
            with database.transaction() as session:
                session.execute(text("SELECT * FROM no_such_table WHERE id_number = :v"), {"v": secret})
        except Exception as error:  # noqa: BLE001 (the message is what is checked)
            logging.getLogger("test").exception("failed", exc_info=error)
    assert secret not in caplog.text


def test_files_a_process_creates_are_its_own_alone(tmp_path: Path):
    env = venv_env({"NUANLIU_VAR_DIR": str(tmp_path / "var")})
    for name in list(env):
        if name.endswith("DATABASE_URL"):
            env.pop(name)
    subprocess.run(
        [sys.executable, "-m", "deploy.cli", "migrate", "registration"],
        cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    database = tmp_path / "var" / "registration.db"
    assert stat.S_IMODE(os.stat(database).st_mode) & 0o077 == 0, oct(os.stat(database).st_mode)
    assert stat.S_IMODE(os.stat(tmp_path / "var").st_mode) & 0o077 == 0
