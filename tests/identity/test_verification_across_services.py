"""Another service (notify) verifies RS256 tokens through registration's JWKS over HTTP: cached,
refreshed on an unknown kid, still verifying while registration is down. A service gets its
token with its own client credentials."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from services.notify.app import create_app as notify_app
from services.registration.app import create_app as registration_app
from shared.jwks import forget_caches
from shared.orgs import credentials_of
from shared.settings import SettingsError
from tests.support.idp import free_port


@pytest.fixture()
def registration(settings_for, migrated, tmp_path):
    migrated("registration")
    port = free_port()
    app = registration_app(settings_for("registration", signing_keys_dir=str(tmp_path / "keys")))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    forget_caches()
    yield app, server, f"http://127.0.0.1:{port}"
    server.shutdown()
    forget_caches()


def notify_client(settings_for, migrated, url: str):
    migrated("notify")
    return notify_app(settings_for("notify", service_urls={"registration": url})).test_client()


def test_a_service_token_from_client_credentials_verifies_elsewhere_even_with_registration_down(
    registration, settings_for, migrated
):
    app, server, url = registration
    tasks = settings_for("tasks", service_urls={"registration": url})
    credentials = credentials_of(tasks, "tasks", {"NUANLIU_CLIENT_SECRET": "dev-tasks-secret"})
    headers = credentials.header()
    assert headers["Authorization"].startswith("Bearer ey")
    notify = notify_client(settings_for, migrated, url)
    assert notify.get("/api/v1/notifications", headers=headers).status_code != 401
    server.shutdown()
    # The JWKS is cached: registration being down signs nobody out.
    assert notify.get("/api/v1/notifications", headers=headers).status_code != 401


def test_an_unknown_kid_refreshes_the_cache_and_a_forged_kid_is_refused(registration, settings_for, migrated):
    app, server, url = registration
    tasks = settings_for("tasks", service_urls={"registration": url})
    secret = {"NUANLIU_CLIENT_SECRET": "dev-tasks-secret"}
    notify = notify_client(settings_for, migrated, url)
    assert (
        notify.get(
            "/api/v1/notifications", headers=credentials_of(tasks, "tasks", secret).header()
        ).status_code
        != 401
    )
    app.extensions["nuanliu"].extras["keyring"].rotate()
    from shared import jwks

    jwks.cache_for(url + "/.well-known/jwks.json").min_refresh = 0.0
    rotated = credentials_of(tasks, "tasks", secret).header()
    assert notify.get("/api/v1/notifications", headers=rotated).status_code != 401


def test_wrong_client_secrets_and_production_without_one_are_refused(registration, settings_for):
    from shared.errors import Unavailable

    _, _, url = registration
    tasks = settings_for("tasks", service_urls={"registration": url})
    with pytest.raises(Unavailable, match="refused"):
        credentials_of(tasks, "tasks", {"NUANLIU_CLIENT_SECRET": "wrong"}).header()
    with pytest.raises(SettingsError, match="NUANLIU_CLIENT_SECRET"):
        credentials_of(tasks.with_overrides(environment="production"), "tasks", {})
