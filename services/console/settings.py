"""The console's own knobs: its OpenID client, its server-side sessions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from shared.settings import Settings, SettingsError, development_secret

DEV_OIDC_CLIENT_SECRET = "dev-console-oidc-secret"
SECRET_KEY_FILE = "console-secret.key"


@dataclass(frozen=True)
class ConsoleSettings(Settings):
    SERVICE: ClassVar[str] = "console"
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        "oidc_issuer": "NUANLIU_OIDC_ISSUER",
        "oidc_client_id": "NUANLIU_CONSOLE_OIDC_CLIENT_ID",
        "oidc_client_secret": "NUANLIU_CONSOLE_OIDC_CLIENT_SECRET",
        "public_url": "NUANLIU_CONSOLE_URL",
        "session_idle": "NUANLIU_SESSION_IDLE",
        "session_absolute": "NUANLIU_SESSION_ABSOLUTE",
        "signin_rate_limit": "NUANLIU_SIGNIN_RATE_LIMIT",
        "secret_key": "NUANLIU_CONSOLE_SECRET",
    }

    service: str = "console"
    # The OpenID provider people sign in at (the development one by default) and the console's
    # client there.
    oidc_issuer: str = "http://127.0.0.1:5009"
    oidc_client_id: str = "nuanliu-console"
    oidc_client_secret: str = DEV_OIDC_CLIENT_SECRET
    # Where people reach the console (the provider redirects back here).
    public_url: str = "http://127.0.0.1:5000"
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)
    # Flask-Limiter on the sign-in forms, per client address, counts in the shared
    # `ratelimit_storage` (NUANLIU_RATELIMIT_STORAGE): memory in development, Redis in production.
    signin_rate_limit: str = "20/minute;200/hour"
    # The key Flask signs the console's cookies (session id, CSRF token) with: its own secret,
    # not one derived from another. Development makes one under var/; production configures it.
    secret_key: str = field(default="", repr=False)
    secret_key_generated: bool = field(default=False, repr=False)

    @classmethod
    def values_from_env(cls, env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
        if env.get("NUANLIU_CONSOLE_SECRET") or env.get("NUANLIU_ENV", "development") == "production":
            return {}
        return {"secret_key": development_secret(var_dir, SECRET_KEY_FILE), "secret_key_generated": True}

    def session_secret(self) -> str:
        """The Flask secret key: the configured one, else (development only) the one under var/."""
        if self.secret_key:
            return self.secret_key
        if self.is_production:
            raise SettingsError("production needs NUANLIU_CONSOLE_SECRET (at least 32 bytes)")
        return development_secret(self.var_dir, SECRET_KEY_FILE)

    @classmethod
    def of(cls, settings: Settings) -> ConsoleSettings:
        """The console's settings from plain shared ones (the console's defaults for its knobs)."""
        if isinstance(settings, ConsoleSettings):
            return settings
        shared = {item.name: getattr(settings, item.name) for item in dataclasses.fields(Settings)}
        return cls(**shared)

    def check(self) -> None:
        super().check()
        if self.secret_key and len(self.secret_key.encode()) < 32:
            raise SettingsError("NUANLIU_CONSOLE_SECRET must be at least 32 bytes")
        if self.is_production and self.oidc_client_secret == DEV_OIDC_CLIENT_SECRET:
            raise SettingsError("production refuses the development NUANLIU_CONSOLE_OIDC_CLIENT_SECRET")
        if self.is_production and (not self.ratelimit_storage or self.ratelimit_storage.startswith("memory")):
            raise SettingsError("production needs NUANLIU_RATELIMIT_STORAGE (e.g. redis://host:6379)")

    def development_defaults(self) -> list[str]:
        found = super().development_defaults()
        if not self.secret_key:
            found.append("NUANLIU_CONSOLE_SECRET is unset")
        elif self.secret_key_generated:
            found.append("NUANLIU_CONSOLE_SECRET is the development key under var/")
        return found
