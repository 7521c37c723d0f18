"""The registration service's own knobs (what all services share is `shared.settings.Settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from shared.settings import PROJECT_ROOT, Settings, SettingsError
from shared.sms import SmsSettings

# Development client secrets of the services' client-credentials grant; production refuses them.
DEV_CLIENT_SECRETS = (
    "transfer:dev-transfer-secret,tasks:dev-tasks-secret,notify:dev-notify-secret,console:dev-console-secret"
)
DEV_OTP_PEPPER = "nuanliu-dev-otp-pepper-not-for-production"
# The key of the ID-number lookup hash (members.id_number_hash); production sets its own.
DEV_ID_HASH_KEY = "nuanliu-dev-id-hash-key-not-for-production"


@dataclass(frozen=True)
class RegistrationSettings(SmsSettings, Settings):
    SERVICE: ClassVar[str] = "registration"
    # Sign-in codes go out under the provider's verification-code template, `otp=<code>`, whose
    # one variable is `code`.
    SMS_REQUIRED_TEMPLATES: ClassVar[tuple[str, ...]] = ("otp",)
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        **SmsSettings.SMS_ENV,
        "lost_contact_days": "NUANLIU_LOST_CONTACT_DAYS",
        "suspension_due_days": "NUANLIU_SUSPENSION_DUE_DAYS",
        "id_hash_key": "NUANLIU_ID_HASH_KEY",
        "qr_ttl": "NUANLIU_QR_TTL",
        "signing_keys_dir": "NUANLIU_SIGNING_KEYS_DIR",
        "signing_key": "NUANLIU_SIGNING_KEY",
        "signing_key_previous": "NUANLIU_SIGNING_KEY_PREVIOUS",
        "oidc_issuer": "NUANLIU_OIDC_ISSUER",
        "oidc_client_ids": "NUANLIU_OIDC_CLIENT_IDS",
        "client_secrets": "NUANLIU_CLIENT_SECRETS",
        "otp_pepper": "NUANLIU_OTP_PEPPER",
        "admin_subjects": "NUANLIU_ADMIN_SUBJECTS",
        "access_token_ttl": "NUANLIU_ACCESS_TOKEN_TTL",
        "sms_outbox_file": "NUANLIU_SMS_OUTBOX_FILE",
        "auth_rate_limit": "NUANLIU_AUTH_RATE_LIMIT",
    }

    service: str = "registration"
    # Days without contact before a member is flagged lost (the daily sweep).
    lost_contact_days: int = 180
    # Days lost (from lost_contact_since) before the sweep announces that a suspension is due.
    suspension_due_days: int = 180
    # HMAC key of the exact ID-number search: rows are found by the keyed hash, never by a scan.
    id_hash_key: str = DEV_ID_HASH_KEY
    # How long a station's screen code stays valid (a poster's lasts until the key is rotated).
    qr_ttl: timedelta = timedelta(seconds=120)
    # RS256 signing keys: a directory of PEM files, or one PEM (and the previous one) in env.
    signing_keys_dir: str = ""
    signing_key: str = ""
    signing_key_previous: str = ""
    # The OpenID provider whose ID tokens the token exchange accepts, and the client ids
    # (comma-separated) an ID token may be issued to.
    oidc_issuer: str = "http://127.0.0.1:5009"
    oidc_client_ids: str = "nuanliu-console"
    # `client:secret,client:secret`: the services' client-credentials grant.
    client_secrets: str = DEV_CLIENT_SECRETS
    otp_pepper: str = DEV_OTP_PEPPER
    # Subjects at the OpenID provider who act as nuanliu admins (comma-separated).
    admin_subjects: str = "admin"
    access_token_ttl: timedelta = timedelta(hours=1)
    # Development delivery of SMS codes (NUANLIU_SMS_PROVIDER=file): the same file notify's
    # development SMS provider writes. Production sends through the gateway of `SmsSettings`.
    sms_outbox_file: Path = PROJECT_ROOT / "var" / "sms.log"
    # Per client address on the token and SMS-code endpoints (Flask-Limiter's notation).
    auth_rate_limit: str = "30/minute;300/hour"

    @classmethod
    def values_from_env(cls, env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
        return {} if "NUANLIU_SMS_OUTBOX_FILE" in env else {"sms_outbox_file": var_dir / "sms.log"}

    def client_secret_of(self, client_id: str) -> str | None:
        for pair in self.client_secrets.split(","):
            name, _, secret = pair.strip().partition(":")
            if name == client_id and secret:
                return secret
        return None

    def check(self) -> None:
        problems = self.sms_problems()
        if problems:
            raise SettingsError("; ".join(problems))
        if self.access_token_ttl > timedelta(hours=1) or self.access_token_ttl <= timedelta(0):
            raise SettingsError("NUANLIU_ACCESS_TOKEN_TTL must be positive and at most 1h")
        super().check()

    def development_defaults(self) -> list[str]:
        """The identity secrets join the shared list: production names them all in one message."""
        found = super().development_defaults()
        if self.client_secrets == DEV_CLIENT_SECRETS:
            found.append("NUANLIU_CLIENT_SECRETS are the development client secrets")
        if self.otp_pepper == DEV_OTP_PEPPER:
            found.append("NUANLIU_OTP_PEPPER is the development pepper")
        if self.id_hash_key == DEV_ID_HASH_KEY:
            found.append("NUANLIU_ID_HASH_KEY is the development key")
        if not (self.signing_keys_dir or self.signing_key):
            found.append("NUANLIU_SIGNING_KEYS_DIR or NUANLIU_SIGNING_KEY unset: keys generated under var/")
        if self.sms_provider == "file":
            found.append(
                "NUANLIU_SMS_PROVIDER is file: members' sign-in codes would go to a file "
                "(set aliyun with the gateway's keys, sign name and an otp template, or disabled)"
            )
        return found
