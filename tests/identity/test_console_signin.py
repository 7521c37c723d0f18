"""Console sign-in against a real registration (served on a port) and the real development
OpenID provider: staff through the provider, members by SMS code; server-side sessions that
sign-out really ends; no member list for strangers; no open redirects."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urljoin

import pytest
import requests
from werkzeug.serving import make_server

from deploy.seed import seed_orgs, seed_staff
from services.console.app import create_app as console_app
from services.console.settings import ConsoleSettings
from services.registration.app import create_app as registration_app
from shared.jwks import forget_caches
from tests.support.builders import member_body
from tests.support.console_http import csrf_header
from tests.support.idp import PASSWORD, free_port, running_idp
from tests.support.tokens import ADMIN

CONSOLE_URL = "http://127.0.0.1:5998"


@pytest.fixture(scope="module")
def idp():
    with running_idp(f"{CONSOLE_URL}/auth/callback") as provider:
        yield provider


@pytest.fixture(scope="module")
def registration(settings_for, migrated, idp, tmp_path_factory):
    database = migrated("registration")
    seed_orgs(database)
    seed_staff(database)
    settings = settings_for(
        "registration", oidc_issuer=idp.issuer, signing_keys_dir=str(tmp_path_factory.mktemp("keys"))
    )
    app = registration_app(settings)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    forget_caches()
    yield app, f"http://127.0.0.1:{port}"
    server.shutdown()


def console(settings_for, registration, idp, tmp_path, **overrides):
    _, url = registration
    base = settings_for("console").with_overrides(
        service_urls={name: url for name in ("registration", "transfer", "tasks", "notify")},
        var_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'console.db'}",
    )
    settings = ConsoleSettings.of(base).with_overrides(
        **{
            "oidc_issuer": idp.issuer,
            "public_url": CONSOLE_URL,
            "secret_key": "c" * 40,
            "ratelimit_storage": "memory://",
            **overrides,
        }
    )
    client = console_app(settings).test_client()
    if settings.is_production:
        # Production serves HTTPS only; these requests come through a TLS-terminating proxy.
        client.environ_base["HTTP_X_FORWARDED_PROTO"] = "https"
    return client


def sign_in_at_provider(client, login: str, password: str = PASSWORD):
    """Follow the console's redirect to the provider, sign in there, come back to the callback."""
    start = client.get("/signin/oidc")
    assert start.status_code == 302
    browser = requests.Session()
    answer = browser.get(start.headers["Location"], allow_redirects=True)
    answer = browser.post(
        answer.url.split("?")[0] + "/login",
        data={"login": login, "password": password},
        allow_redirects=False,
    )
    while not answer.headers["Location"].startswith(CONSOLE_URL):
        answer = browser.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False)
    return client.get(answer.headers["Location"][len(CONSOLE_URL) :])


def cookie_of(client) -> str:
    cookie = next(iter(client._cookies.values()))
    return cookie.value


def test_a_secretary_signs_in_through_the_provider_and_sign_out_ends_the_session(
    settings_for, registration, idp, tmp_path
):
    client = console(settings_for, registration, idp, tmp_path)
    back = sign_in_at_provider(client, "sec-lc-md-sx")
    assert back.status_code == 302, back.get_data(as_text=True)
    page = client.get("/roster")
    assert page.status_code == 200 and "刘书记" in page.get_data(as_text=True)
    # The cookie is a bare random id: no token, no claims.
    value = cookie_of(client)
    assert "ey" not in value and "." not in value
    old = value
    client.post("/signout", headers=csrf_header(client))
    replay = console(settings_for, registration, idp, tmp_path)
    replay.set_cookie("nuanliu_session", old)
    assert replay.get("/roster").status_code == 302


def test_a_person_with_two_roles_chooses_and_a_person_without_one_gets_a_clear_403(
    settings_for, registration, idp, tmp_path
):
    client = console(settings_for, registration, idp, tmp_path)
    back = sign_in_at_provider(client, "sec-wq-yc-01")
    assert back.headers["Location"].endswith("/signin/choose")
    chooser = client.get("/signin/choose").get_data(as_text=True)
    assert "TJ-WQ-XZ-01" in chooser and "TJ-WQ-YC-01" in chooser
    chosen = client.post(
        "/signin/choose", data={"org": "TJ-WQ-XZ-01", "role": "branch_secretary"}, headers=csrf_header(client)
    )
    assert chosen.status_code == 302
    assert client.get("/roster").status_code == 200

    app, _ = registration
    from services.registration.commands.staff import RemoveStaff, remove_staff
    from services.registration.models import StaffAssignment
    from services.registration.unit_of_work import RegistrationUnitOfWork
    from shared.auth import Principal

    database = app.extensions["nuanliu"].database
    with database.reader() as session:
        rows = [(r.id, r.org_code) for r in session.query(StaffAssignment).filter_by(subject="officer-lc-dt")]
    for staff_id, org in rows:
        remove_staff(
            RegistrationUnitOfWork(database), Principal("t", "admin", "CN"), RemoveStaff(org, staff_id)
        )
    stranger = console(settings_for, registration, idp, tmp_path)
    refused = sign_in_at_provider(stranger, "officer-lc-dt")
    assert refused.status_code == 403 and "没有任何岗位" in refused.get_data(as_text=True)


def test_a_forged_state_signs_nobody_in(settings_for, registration, idp, tmp_path):
    client = console(settings_for, registration, idp, tmp_path)
    client.get("/signin/oidc")
    assert client.get("/auth/callback?code=x&state=forged").status_code == 400
    assert client.get("/roster").status_code == 302


def test_the_provider_down_is_said_plainly_and_sessions_keep_working(
    settings_for, registration, idp, tmp_path
):
    client = console(settings_for, registration, idp, tmp_path)
    assert sign_in_at_provider(client, "dept-lc").status_code == 302
    dead = f"http://127.0.0.1:{free_port()}"
    down = console(settings_for, registration, idp, tmp_path, oidc_issuer=dead)
    page = down.get("/signin/oidc")
    assert page.status_code == 503 and "统一身份认证暂时无法访问" in page.get_data(as_text=True)
    # The session made before still works (same session table).
    down.set_cookie("nuanliu_session", cookie_of(client))
    assert down.get("/roster").status_code == 200


def test_a_member_signs_in_with_an_sms_code(settings_for, registration, idp, tmp_path):
    app, url = registration
    body = member_body("HB-LC-MD-SX", name="谭明")
    requests.post(f"{url}/api/v1/members", json=body, headers=ADMIN, timeout=10).raise_for_status()
    client = console(settings_for, registration, idp, tmp_path)
    page = client.post("/signin/sms", data={"phone": body["phone"]}, headers=csrf_header(client))
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    sms_file = app.extensions["nuanliu"].settings.sms_outbox_file
    lines = [json.loads(line) for line in sms_file.read_text(encoding="utf-8").splitlines()]
    code = [line for line in lines if line["to"] == body["phone"]][-1]["text"].split("验证码 ")[1][:6]
    wrong = client.post(
        "/signin/sms",
        data={"phone": body["phone"], "code": "000000" if code != "000000" else "111111"},
        headers=csrf_header(client),
    )
    assert wrong.status_code == 400
    signed = client.post(
        "/signin/sms", data={"phone": body["phone"], "code": code}, headers=csrf_header(client)
    )
    assert signed.status_code == 302
    assert "谭明" in client.get("/me").get_data(as_text=True)


def test_sessions_end_after_the_idle_timeout(settings_for, registration, idp, tmp_path):
    from datetime import timedelta

    client = console(settings_for, registration, idp, tmp_path, session_idle=timedelta(seconds=1))
    assert client.post("/signin", data={"demo": "dept-lc"}, headers=csrf_header(client)).status_code == 302
    assert client.get("/roster").status_code != 302
    time.sleep(1.5)
    assert client.get("/roster").status_code == 302


def test_production_lists_no_identity_and_refuses_the_dev_picker(
    settings_for, registration, idp, tmp_path, monkeypatch
):
    monkeypatch.setenv("NUANLIU_CLIENT_SECRET", "dev-console-secret")
    client = console(
        settings_for,
        registration,
        idp,
        tmp_path,
        environment="production",
        oidc_client_secret="s" * 32,
        jwt_secret="p" * 40,
    )
    page = client.get("/signin").get_data(as_text=True)
    assert "王书记" not in page and "demo-" not in page and "member_id" not in page
    assert client.post("/signin", data={"demo": "admin"}, headers=csrf_header(client)).status_code == 403


def test_production_cookies_carry_the_host_prefix(settings_for, registration, idp, tmp_path, monkeypatch):
    monkeypatch.setenv("NUANLIU_CLIENT_SECRET", "dev-console-secret")
    client = console(
        settings_for,
        registration,
        idp,
        tmp_path,
        environment="production",
        oidc_client_secret="s" * 32,
        jwt_secret="p" * 40,
    )
    answer = client.get("/signin/oidc", base_url="https://console.example")
    assert "__Host-nuanliu=" in answer.headers.get("Set-Cookie", "")
    assert "Secure" in answer.headers["Set-Cookie"] and "Path=/" in answer.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "/\t/evil.example", "/\\evil.example", "https://evil.example"]
)
def test_next_only_takes_same_origin_paths(settings_for, registration, idp, tmp_path, target):
    client = console(settings_for, registration, idp, tmp_path)
    answer = client.post(
        "/signin", query_string={"next": target}, data={"demo": "admin"}, headers=csrf_header(client)
    )
    location = answer.headers["Location"]
    assert answer.status_code == 302 and "evil" not in location


def test_language_switch_never_follows_a_foreign_referer(settings_for, registration, idp, tmp_path):
    client = console(settings_for, registration, idp, tmp_path)
    answer = client.get("/lang/en", headers={"Referer": "https://evil.example/phish"})
    assert "evil" not in answer.headers["Location"]
    answer = client.get("/lang/en", headers={"Referer": "http://localhost/notifications?unread=true"})
    assert answer.headers["Location"].endswith("/notifications?unread=true")


def test_a_cross_site_post_without_the_form_token_is_refused(settings_for, registration, idp, tmp_path):
    client = console(settings_for, registration, idp, tmp_path)
    assert client.post("/signin", data={"demo": "dept-lc"}, headers=csrf_header(client)).status_code == 302
    # What another site's page can send: the cookie rides along, the token cannot.
    forged = client.post("/preferences", data={"webhook": "on", "webhook_url": "https://evil.example/hook"})
    assert forged.status_code == 400
    forged_htmx = client.post("/signout", headers={"HX-Request": "true"})
    assert forged_htmx.status_code == 400
    assert client.get("/roster").status_code == 200  # still signed in


def test_pages_carry_the_security_headers(settings_for, registration, idp, tmp_path, monkeypatch):
    monkeypatch.setenv("NUANLIU_CLIENT_SECRET", "dev-console-secret")
    client = console(settings_for, registration, idp, tmp_path)
    headers = client.get("/signin").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    production = console(
        settings_for,
        registration,
        idp,
        tmp_path,
        environment="production",
        oidc_client_secret="s" * 32,
        jwt_secret="p" * 40,
    )
    secure = production.get("/signin", base_url="https://console.example").headers
    assert "max-age=31536000" in secure["Strict-Transport-Security"]
    production.environ_base.pop("HTTP_X_FORWARDED_PROTO")
    assert production.get("/signin", base_url="http://console.example").status_code in (301, 302)


def test_sign_in_attempts_are_rate_limited_per_client(settings_for, registration, idp, tmp_path):
    client = console(settings_for, registration, idp, tmp_path, signin_rate_limit="3/minute")
    headers = csrf_header(client)
    statuses = [
        client.post("/signin", data={"member_id": "no-such"}, headers=headers).status_code for _ in range(4)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:3]
    assert client.get("/signin").status_code == 200  # reading the page is not an attempt


def test_a_production_console_needs_its_client_secret(settings_for, registration, idp, tmp_path, monkeypatch):
    from shared.settings import SettingsError

    monkeypatch.delenv("NUANLIU_CLIENT_SECRET", raising=False)
    with pytest.raises(SettingsError, match="NUANLIU_CLIENT_SECRET"):
        console(settings_for, registration, idp, tmp_path, environment="production", jwt_secret="p" * 40)
