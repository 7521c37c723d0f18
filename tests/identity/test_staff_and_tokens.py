"""The staff directory and the token service over HTTP (Flask test client, real database):
client credentials, SMS codes, RS256 verification and its refusals, key rotation."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from sqlalchemy import select

from services.registration.app import create_app
from services.registration.identity.keys import KeyRing
from services.registration.models import outbox
from shared.settings import DEV_JWT_SECRET
from tests.support.builders import member_body, org_tree
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def app(settings_for, migrated, tmp_path_factory):
    migrated("registration")
    keys = tmp_path_factory.mktemp("keys")
    settings = settings_for("registration", signing_keys_dir=str(keys), auth_rate_limit="1000/minute")
    return create_app(settings)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def tree(client):
    return org_tree(client, ADMIN)


def service_token(client, client_id: str = "transfer", secret: str = "dev-transfer-secret"):
    return client.post(
        "/api/v1/tokens",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def rs256(client) -> dict[str, str]:
    answer = service_token(client)
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


# --- the staff directory ------------------------------------------------------------------


def test_an_org_department_above_assigns_and_removes_staff(client, tree, migrated):
    dept = bearer("org_department", tree["county"])
    answer = client.post(
        f"/api/v1/orgs/{tree['branch']}/staff",
        json={"subject": "oidc-sec-1", "name": "王书记", "role": "branch_secretary"},
        headers=dept,
    )
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["org_code"] == tree["branch"] and body["subject"] == "oidc-sec-1"
    listed = client.get(f"/api/v1/orgs/{tree['branch']}/staff", headers=dept).get_json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert client.delete(f"/api/v1/orgs/{tree['branch']}/staff/{body['id']}", headers=dept).status_code == 204
    assert client.get(f"/api/v1/orgs/{tree['branch']}/staff", headers=dept).get_json()["items"] == []
    with migrated("registration").reader() as session:
        types = session.scalars(
            select(outbox.table.c.event_type).where(outbox.table.c.subject == tree["branch"])
        ).all()
    assert "registration.staff_assigned.v1" in types and "registration.staff_removed.v1" in types


def test_the_role_must_fit_the_org_level(client, tree):
    answer = client.post(
        f"/api/v1/orgs/{tree['township']}/staff",
        json={"subject": "x", "name": "x", "role": "branch_secretary"},
        headers=ADMIN,
    )
    assert answer.status_code == 422
    assert "role" in answer.get_json()["errors"]["json"]
    answer = client.post(
        f"/api/v1/orgs/{tree['township']}/staff",
        json={"subject": "x", "name": "x", "role": "org_department"},
        headers=ADMIN,
    )
    assert answer.status_code == 422


def test_only_departments_above_and_admins_manage_staff(client, tree):
    body = {"subject": "y", "name": "y", "role": "branch_secretary"}
    for headers in (
        bearer("branch_secretary", tree["branch"]),
        bearer("township_officer", tree["township"]),
        bearer("org_department", "OTHER-COUNTY"),
    ):
        assert (
            client.post(f"/api/v1/orgs/{tree['branch']}/staff", json=body, headers=headers).status_code == 403
        )
    # A department does not appoint its own peers.
    county = bearer("org_department", tree["county"])
    peer = {"subject": "z", "name": "z", "role": "org_department"}
    assert client.post(f"/api/v1/orgs/{tree['county']}/staff", json=peer, headers=county).status_code == 403


# --- client credentials and verification --------------------------------------------------


def test_client_credentials_give_an_rs256_service_token_with_a_kid(client, app):
    answer = service_token(client)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    published = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert header["kid"] in {key["kid"] for key in published}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "svc:transfer" and claims["role"] == "service"
    assert claims["iss"] == "nuanliu" and claims["aud"] == "nuanliu"
    assert claims["exp"] - claims["iat"] <= 3600
    # The token is accepted by the API.
    assert (
        client.get("/api/v1/orgs/CN", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code
        == 200
    )


def test_wrong_client_secrets_are_refused(client):
    assert service_token(client, "transfer", "wrong").status_code == 401
    assert service_token(client, "nobody", "dev-transfer-secret").status_code == 401
    missing = client.post(
        "/api/v1/tokens", json={"grant_type": "client_credentials", "client_id": "transfer"}
    )
    assert missing.status_code == 422 and "client_secret" in missing.get_json()["errors"]["json"]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_refused(client, app):
    good = rs256(client)["Authorization"].split()[1]
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    tampered = f"{header}.{_b64({**claims, 'role': 'admin'})}.{signature}"
    none_alg = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    key = app.extensions["nuanliu"].extras["keyring"].signing_key()
    now = int(time.time())
    base = {"iss": "nuanliu", "aud": "nuanliu", "sub": "a", "role": "admin", "org": "CN", "iat": now}
    expired = jwt.encode(
        {**base, "iat": now - 7200, "exp": now - 3600}, key.private_key, "RS256", {"kid": key.kid}
    )
    foreign = jwt.encode(
        {**base, "aud": "other", "exp": now + 60}, key.private_key, "RS256", {"kid": key.kid}
    )
    unknown_kid = jwt.encode({**base, "exp": now + 60}, key.private_key, "RS256", {"kid": "nope"})
    no_kid = jwt.encode({**base, "exp": now + 60}, key.private_key, "RS256")
    too_long = jwt.encode({**base, "exp": now + 86400}, key.private_key, "RS256", {"kid": key.kid})
    for token in (tampered, none_alg, expired, foreign, unknown_kid, no_kid, too_long):
        answer = client.get("/api/v1/orgs/CN", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token


def test_hs256_dev_tokens_work_only_in_development(settings_for, migrated):
    migrated("registration")
    hs256 = bearer("admin", "CN", "admin")
    development = create_app(settings_for("registration")).test_client()
    assert development.get("/api/v1/orgs/CN", headers=hs256).status_code == 200
    production = create_app(
        settings_for("registration", environment="production", signing_key=_pem(), ratelimit_storage="memory://")
    ).test_client()
    assert production.get("/api/v1/orgs/CN", headers=hs256).status_code == 401
    token = production.post(
        "/api/v1/tokens",
        json={"grant_type": "client_credentials", "client_id": "tasks", "client_secret": "dev-tasks-secret"},
    ).get_json()["access_token"]
    assert production.get("/api/v1/orgs/CN", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert DEV_JWT_SECRET  # the secret exists; production simply never accepts what it signs


def _pem() -> str:
    from services.registration.identity.keys import new_private_pem

    return new_private_pem().decode()


# --- rotation -----------------------------------------------------------------------------


def test_a_rotation_publishes_two_keys_and_old_tokens_verify_until_removed(client, app):
    ring: KeyRing = app.extensions["nuanliu"].extras["keyring"]
    old_headers = rs256(client)
    old_kid = jwt.get_unverified_header(old_headers["Authorization"].split()[1])["kid"]
    new_key = ring.rotate()
    published = {key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert published == {old_kid, new_key.kid}
    new_headers = rs256(client)
    assert jwt.get_unverified_header(new_headers["Authorization"].split()[1])["kid"] == new_key.kid
    assert client.get("/api/v1/orgs/CN", headers=old_headers).status_code == 200
    assert client.get("/api/v1/orgs/CN", headers=new_headers).status_code == 200
    ring.retire(old_kid)
    published = {key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert published == {new_key.kid}
    assert client.get("/api/v1/orgs/CN", headers=old_headers).status_code == 401
    assert client.get("/api/v1/orgs/CN", headers=new_headers).status_code == 200


# --- SMS codes ----------------------------------------------------------------------------


def codes_sent(settings, phone: str) -> list[str]:
    path = settings.sms_outbox_file
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [line["text"].split("验证码 ")[1][:6] for line in lines if line["to"] == phone]


def test_a_member_signs_in_with_an_sms_code(client, app, tree):
    body = member_body(tree["branch"])
    member = client.post("/api/v1/members", json=body, headers=ADMIN).get_json()
    phone = body["phone"]
    assert client.post("/api/v1/otp", json={"phone": phone}).status_code == 202
    settings = app.extensions["nuanliu"].settings
    (code,) = codes_sent(settings, phone)
    assert (settings.sms_outbox_file.stat().st_mode & 0o777) == 0o600
    answer = client.post("/api/v1/tokens", json={"grant_type": "sms_otp", "phone": phone, "code": code})
    assert answer.status_code == 200, answer.get_json()
    claims = jwt.decode(answer.get_json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["org"]) == (member["id"], "member", tree["branch"])
    # A code works once.
    again = client.post("/api/v1/tokens", json={"grant_type": "sms_otp", "phone": phone, "code": code})
    assert again.status_code == 401


def test_five_wrong_codes_void_the_code(client, app, tree):
    body = member_body(tree["branch"])
    client.post("/api/v1/members", json=body, headers=ADMIN)
    phone = body["phone"]
    client.post("/api/v1/otp", json={"phone": phone})
    (code,) = codes_sent(app.extensions["nuanliu"].settings, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        answer = client.post("/api/v1/tokens", json={"grant_type": "sms_otp", "phone": phone, "code": wrong})
        assert answer.status_code == 401
    right = client.post("/api/v1/tokens", json={"grant_type": "sms_otp", "phone": phone, "code": code})
    assert right.status_code == 401


def test_otp_answers_the_same_for_strangers_and_limits_per_phone(client, app):
    stranger = "19900000000"
    first = client.post("/api/v1/otp", json={"phone": stranger})
    assert first.status_code == 202
    assert codes_sent(app.extensions["nuanliu"].settings, stranger) == []
    second = client.post("/api/v1/otp", json={"phone": stranger})
    assert second.status_code == 429
    assert 0 < int(second.headers["Retry-After"]) <= 60
    bad = client.post("/api/v1/otp", json={"phone": "12"})
    assert bad.status_code == 422 and "phone" in bad.get_json()["errors"]["json"]


def test_five_requests_an_hour_per_phone(client, app, migrated):
    from datetime import timedelta

    from services.registration.identity import otp
    from services.registration.models import OneTimeCode
    from shared.db import utcnow

    phone = "19900000001"
    settings = app.extensions["nuanliu"].settings
    database = migrated("registration")
    for _ in range(5):
        assert client.post("/api/v1/otp", json={"phone": phone}).status_code == 202
        # Move the request two minutes back: the per-minute limit passes, the hourly one counts.
        with database.transaction() as session:
            for row in session.scalars(
                select(OneTimeCode).where(OneTimeCode.phone_hash == otp._keyed(settings, phone))
            ):
                row.created_at = row.created_at - timedelta(minutes=2)
    answer = client.post("/api/v1/otp", json={"phone": phone})
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) > 60
    assert utcnow()


def test_token_and_code_endpoints_are_rate_limited_per_client(settings_for, migrated, tmp_path):
    limited = create_app(
        settings_for("registration", signing_keys_dir=str(tmp_path), auth_rate_limit="3/minute")
    ).test_client()
    statuses = [service_token(limited, "transfer", "wrong").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = service_token(limited)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # Each endpoint counts on its own; different phones do not escape the per-client limit.
    phones = [f"1990000001{digit}" for digit in range(4)]
    assert [limited.post("/api/v1/otp", json={"phone": p}).status_code for p in phones] == [
        202,
        202,
        202,
        429,
    ]


def test_refusals_are_logged_with_actor_route_and_request_id(client, tree):
    import logging

    from shared.logging import JsonFormatter

    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter("registration").format(record)))

    handler = Collect(level=logging.WARNING)
    security = logging.getLogger("nuanliu.security")
    security.addHandler(handler)
    try:
        headers = {**bearer("branch_secretary", tree["branch"], "sec-x"), "X-Request-ID": "req-refused-1"}
        assert client.get(f"/api/v1/orgs/{tree['branch']}/staff", headers=headers).status_code == 403
        bad = {"Authorization": "Bearer nope", "X-Request-ID": "req-refused-2"}
        assert client.get("/api/v1/orgs/CN", headers=bad).status_code == 401
    finally:
        security.removeHandler(handler)
    assert [(line["status"], line["request_id"]) for line in lines] == [
        (403, "req-refused-1"),
        (401, "req-refused-2"),
    ]
    assert lines[0]["actor"] == "sec-x" and lines[0]["route"] == "/api/v1/orgs/<string:code>/staff"
    assert lines[1]["actor"] is None and lines[1]["route"] == "/api/v1/orgs/<string:code>"


def test_rate_limits_can_live_in_redis(settings_for, migrated, tmp_path):
    import secrets as random_names

    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    settings = settings_for(
        "registration",
        signing_keys_dir=str(tmp_path),
        auth_rate_limit="2/minute",
        ratelimit_storage="redis://127.0.0.1:6379/0",
    )
    first, second = create_app(settings).test_client(), create_app(settings).test_client()
    # A client address of its own per run, so an earlier run's count does not leak in.
    address = f"10.{random_names.randbelow(256)}.{random_names.randbelow(256)}.{random_names.randbelow(256)}"
    for client in (first, second):
        client.environ_base["REMOTE_ADDR"] = address
    # Two processes share the count through Redis.
    assert service_token(first, "transfer", "wrong").status_code == 401
    assert service_token(second, "transfer", "wrong").status_code == 401
    assert service_token(first, "transfer", "wrong").status_code == 429
