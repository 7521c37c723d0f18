"""Security review, finding 14: production settings fail closed.

An environment name that is not exactly `development` or `production` stops the process; in
production every development default is refused, all of them named in one message; the docs are
off and /metrics needs an admin or service token there."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy.processes import settings_of
from services.console.settings import ConsoleSettings
from services.notify.app import create_app
from services.notify.settings import NotifySettings
from services.transfer.settings import PROOF_KEY_FILE, TransferSettings
from shared.auth import issue_token
from shared.settings import Settings, SettingsError

STRONG = "s" * 40
PRODUCTION = {
    "NUANLIU_ENV": "production",
    "AMQP_URL": "amqps://nuanliu:pw@broker.internal:5671/%2F",
    "DATABASE_URL": "postgresql://nuanliu@db.internal/nuanliu",
    "NUANLIU_RATELIMIT_STORAGE": "redis://cache.internal:6379",
}


@pytest.mark.parametrize("name", ["Production", "prod", "dev", "staging", "", " production"])
def test_an_environment_name_other_than_the_two_is_refused(name: str) -> None:
    with pytest.raises(SettingsError, match="NUANLIU_ENV"):
        Settings.from_env("registration", {"NUANLIU_ENV": name})


def test_every_development_default_is_named_in_one_message(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_of("notify", {"NUANLIU_ENV": "production", "NUANLIU_VAR_DIR": str(tmp_path)})
    message = str(refused.value)
    for named in (
        "guest",
        "SQLite",
        "NUANLIU_WEBHOOK_SECRET",
        "NUANLIU_SMTP_HOST",
        "NUANLIU_SMS_PROVIDER",
    ):
        assert named in message, named
    with pytest.raises(SettingsError) as refused:
        settings_of("transfer", {"NUANLIU_ENV": "production", "NUANLIU_VAR_DIR": str(tmp_path)})
    assert "NUANLIU_TRANSFER_PROOF_KEY" in str(refused.value) and "guest" in str(refused.value)
    # Production never makes a key of its own.
    assert not (tmp_path / PROOF_KEY_FILE).exists()


def test_production_starts_once_every_default_is_replaced(tmp_path: Path) -> None:
    env = {**PRODUCTION, "NUANLIU_VAR_DIR": str(tmp_path)}
    identity = {
        "NUANLIU_CLIENT_SECRETS": "transfer:" + "t" * 40 + ",tasks:" + "k" * 40,
        "NUANLIU_OTP_PEPPER": "p" * 40,
        "NUANLIU_ID_HASH_KEY": "h" * 40,
        "NUANLIU_SIGNING_KEYS_DIR": str(tmp_path / "keys"),
        "NUANLIU_SMS_PROVIDER": "aliyun",
        "NUANLIU_SMS_ACCESS_KEY_ID": "LTAI-key",
        "NUANLIU_SMS_ACCESS_KEY_SECRET": "s" * 30,
        "NUANLIU_SMS_SIGN_NAME": "暖流",
        "NUANLIU_SMS_TEMPLATES": "otp=SMS_100",
    }
    assert settings_of("registration", {**env, **identity}).is_production
    # Members' sign-in codes go out under a verification-code template of their own.
    with pytest.raises(SettingsError, match="otp template"):
        settings_of("registration", {**env, **identity, "NUANLIU_SMS_TEMPLATES": "default=SMS_100"})
    transfer = settings_of("transfer", {**env, "NUANLIU_TRANSFER_PROOF_KEY": "k" * 40})
    assert isinstance(transfer, TransferSettings) and transfer.transfer_proof_key == "k" * 40
    notify = settings_of(
        "notify",
        {
            **env,
            "NUANLIU_WEBHOOK_SECRET": STRONG,
            "NUANLIU_SMTP_HOST": "smtp.example.org",
            "NUANLIU_SMS_PROVIDER": "disabled",
        },
    )
    assert isinstance(notify, NotifySettings) and not notify.serves_docs
    # The console has no database or broker of its own: its secrets and rate-limit store matter.
    console = {
        "NUANLIU_ENV": "production",
        "NUANLIU_CONSOLE_SECRET": STRONG,
        "NUANLIU_CONSOLE_OIDC_CLIENT_SECRET": STRONG,
        "NUANLIU_RATELIMIT_STORAGE": "redis://cache.internal:6379",
    }
    assert ConsoleSettings.from_env(environ=console).is_production


def test_the_development_proof_key_is_made_once_and_private(tmp_path: Path) -> None:
    first = TransferSettings.from_env(environ={"NUANLIU_VAR_DIR": str(tmp_path)})
    again = TransferSettings.from_env(environ={"NUANLIU_VAR_DIR": str(tmp_path)})
    assert len(first.transfer_proof_key) >= 32 and first.transfer_proof_key == again.transfer_proof_key
    assert stat.S_IMODE((tmp_path / PROOF_KEY_FILE).stat().st_mode) == 0o600
    assert first.transfer_proof_key not in repr(first)
    with pytest.raises(SettingsError, match="NUANLIU_TRANSFER_PROOF_KEY"):
        TransferSettings.from_env(
            environ={"NUANLIU_VAR_DIR": str(tmp_path), "NUANLIU_TRANSFER_PROOF_KEY": "short"}
        )


def test_public_docs_is_a_strict_boolean() -> None:
    with pytest.raises(SettingsError, match="NUANLIU_PUBLIC_DOCS"):
        Settings.from_env("registration", {"NUANLIU_PUBLIC_DOCS": "maybe"})
    assert Settings.from_env("registration", {}).serves_docs
    assert not Settings.from_env("registration", {"NUANLIU_PUBLIC_DOCS": "false"}).serves_docs


def _production_notify(tmp_path: Path, **overrides: object) -> NotifySettings:
    # Built directly: these tests look at the endpoints, not at the start-up checks above.
    return NotifySettings(
        service="notify",
        environment="production",
        jwt_secret=STRONG,
        database_url=f"sqlite:///{tmp_path / 'notify.db'}",
        ratelimit_storage="memory://",
        **overrides,  # type: ignore[arg-type]
    )


def _bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(STRONG, f'{role}-1', role, 'CN')}"}


def test_production_hides_the_docs_unless_asked(tmp_path: Path) -> None:
    client = create_app(_production_notify(tmp_path)).test_client()
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404
    shown = create_app(_production_notify(tmp_path, public_docs=True)).test_client()
    assert shown.get("/openapi.json").status_code == 200


def _rs256_bearer(private_key: object, role: str) -> dict[str, str]:
    """A production token: RS256 with a kid (production refuses HS256 development tokens)."""
    import time

    import jwt

    now = int(time.time())
    claims = {"sub": f"{role}-1", "role": role, "org": "CN", "aud": "nuanliu", "iss": "nuanliu",
              "iat": now, "exp": now + 600}  # fmt: skip
    return {"Authorization": "Bearer " + jwt.encode(claims, private_key, "RS256", headers={"kid": "k1"})}


def test_production_metrics_on_the_public_port_need_an_admin_or_service_token(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = create_app(_production_notify(tmp_path))
    # The token service's key, as the JWKS would give it (this test has no registration running).
    app.extensions["nuanliu"].extras["public_key"] = lambda kid: key.public_key() if kid == "k1" else None
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=_bearer("admin")).status_code == 401  # HS256: refused
    assert client.get("/metrics", headers=_rs256_bearer(key, "member")).status_code == 403
    assert client.get("/metrics", headers=_rs256_bearer(key, "service")).status_code == 200
    assert client.get("/metrics", headers=_rs256_bearer(key, "admin")).status_code == 200
    assert client.get("/healthz").status_code == 200
