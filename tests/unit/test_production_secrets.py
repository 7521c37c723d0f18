"""Issue 16's leftovers: the shared HS256 secret survives only in development (production refuses
to start with NUANLIU_JWT_SECRET configured), and the console signs its cookies with a secret of
its own (NUANLIU_CONSOLE_SECRET; made under var/ in development, required in production), not
one derived from the JWT secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy.processes import settings_of
from services.console.app import create_app
from services.console.settings import SECRET_KEY_FILE, ConsoleSettings
from shared.settings import DEV_JWT_SECRET, Settings, SettingsError

STRONG = "s" * 40
# A production registration with every development default replaced.
REGISTRATION = {
    "NUANLIU_ENV": "production",
    "AMQP_URL": "amqps://nuanliu:pw@broker.internal:5671/%2F",
    "DATABASE_URL": "postgresql://nuanliu@db.internal/nuanliu",
    "NUANLIU_RATELIMIT_STORAGE": "redis://cache.internal:6379",
    "NUANLIU_CLIENT_SECRETS": "transfer:" + "t" * 40,
    "NUANLIU_OTP_PEPPER": "p" * 40,
    "NUANLIU_SMS_PROVIDER": "disabled",
    "NUANLIU_ID_HASH_KEY": "h" * 40,
}
CONSOLE = {
    "NUANLIU_ENV": "production",
    "NUANLIU_CONSOLE_OIDC_CLIENT_SECRET": STRONG,
    "NUANLIU_RATELIMIT_STORAGE": "redis://cache.internal:6379",
}


def test_production_refuses_to_start_with_the_shared_jwt_secret(tmp_path: Path) -> None:
    env = {**REGISTRATION, "NUANLIU_VAR_DIR": str(tmp_path), "NUANLIU_SIGNING_KEYS_DIR": str(tmp_path / "k")}
    assert settings_of("registration", env).is_production
    for secret in (STRONG, DEV_JWT_SECRET, "short"):
        with pytest.raises(SettingsError, match="NUANLIU_JWT_SECRET is set") as refused:
            settings_of("registration", {**env, "NUANLIU_JWT_SECRET": secret})
        assert secret not in str(refused.value)
    with pytest.raises(SettingsError, match="NUANLIU_JWT_SECRET is set"):
        ConsoleSettings.from_env(
            environ={**CONSOLE, "NUANLIU_CONSOLE_SECRET": STRONG, "NUANLIU_JWT_SECRET": STRONG}
        )


def test_development_keeps_the_shared_jwt_secret() -> None:
    assert Settings.from_env("registration", {}).jwt_secret == DEV_JWT_SECRET
    assert Settings.from_env("registration", {"NUANLIU_JWT_SECRET": STRONG}).jwt_secret == STRONG
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        Settings.from_env("registration", {"NUANLIU_JWT_SECRET": "short"})


def test_production_console_needs_its_own_secret(tmp_path: Path) -> None:
    env = {**CONSOLE, "NUANLIU_VAR_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match="NUANLIU_CONSOLE_SECRET is unset"):
        ConsoleSettings.from_env(environ=env)
    with pytest.raises(SettingsError, match="NUANLIU_CONSOLE_SECRET must be at least 32 bytes"):
        ConsoleSettings.from_env(environ={**env, "NUANLIU_CONSOLE_SECRET": "short"})
    secret = "c" * 40
    settings = ConsoleSettings.from_env(environ={**env, "NUANLIU_CONSOLE_SECRET": secret})
    assert settings.session_secret() == secret and secret not in repr(settings)
    assert not (tmp_path / SECRET_KEY_FILE).exists()  # production never makes one of its own
    with pytest.raises(SettingsError, match="NUANLIU_CONSOLE_SECRET"):
        ConsoleSettings(service="console", environment="production").session_secret()


def test_the_development_console_secret_is_made_once_private_and_not_the_jwt_secret(tmp_path: Path) -> None:
    first = ConsoleSettings.from_env(environ={"NUANLIU_VAR_DIR": str(tmp_path)})
    again = ConsoleSettings.from_env(environ={"NUANLIU_VAR_DIR": str(tmp_path), "NUANLIU_JWT_SECRET": STRONG})
    assert len(first.secret_key) >= 32 and first.secret_key == again.secret_key
    assert stat.S_IMODE((tmp_path / SECRET_KEY_FILE).stat().st_mode) == 0o600
    assert DEV_JWT_SECRET not in first.secret_key and STRONG not in first.secret_key
    # The app signs its cookies with it, whatever the JWT secret is.
    app = create_app(again.with_overrides(database_url=f"sqlite:///{tmp_path / 'console.db'}"))
    assert app.secret_key == first.secret_key
    # Plain shared settings (as tests pass them) find the same development key under var/.
    plain = Settings(service="console", var_dir=tmp_path)
    assert ConsoleSettings.of(plain).session_secret() == first.secret_key


def test_make_run_says_how_to_sign_in(tmp_path: Path) -> None:
    import json

    from deploy.launcher import DEMO_USERS, sign_in_help

    text = "\n".join(sign_in_help(tmp_path, {}))
    assert "nuanliu-demo" in text and "/signin/sms" in text and str(tmp_path / "sms.log") in text
    for user in json.loads(DEMO_USERS.read_text())["users"]:
        assert user["sub"] in text and user["name"] in text
    assert "/elsewhere/sms.log" in "\n".join(
        sign_in_help(tmp_path, {"NUANLIU_SMS_OUTBOX_FILE": "/elsewhere/sms.log"})
    )
