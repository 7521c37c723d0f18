"""The notify service's own knobs (what all services share is `shared.settings.Settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from services.notify.domain import DeliveryPolicy
from services.notify.webhook_address import Resolver, WebhookGuard, parse_networks
from shared.clock import CHINA_ZONE_NAME
from shared.settings import PROJECT_ROOT, Settings, SettingsError

DEV_WEBHOOK_SECRET = "nuanliu-dev-webhook-secret"
SMS_PROVIDERS = ("file", "aliyun", "disabled")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


@dataclass(frozen=True)
class NotifySettings(Settings):
    SERVICE: ClassVar[str] = "notify"
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        "consumer_delivery_limit": "NUANLIU_DELIVERY_LIMIT",
        "consumer_prefetch": "NUANLIU_PREFETCH",
        "smtp_host": "NUANLIU_SMTP_HOST",
        "smtp_port": "NUANLIU_SMTP_PORT",
        "smtp_sender": "NUANLIU_SMTP_SENDER",
        "sms_outbox_file": "NUANLIU_SMS_OUTBOX_FILE",
        "sms_provider": "NUANLIU_SMS_PROVIDER",
        "sms_gateway_url": "NUANLIU_SMS_GATEWAY_URL",
        "sms_access_key_id": "NUANLIU_SMS_ACCESS_KEY_ID",
        "sms_access_key_secret": "NUANLIU_SMS_ACCESS_KEY_SECRET",
        "sms_sign_name": "NUANLIU_SMS_SIGN_NAME",
        "sms_region": "NUANLIU_SMS_REGION",
        "sms_templates": "NUANLIU_SMS_TEMPLATES",
        "webhook_secret": "NUANLIU_WEBHOOK_SECRET",
        "webhook_timeout": "NUANLIU_WEBHOOK_TIMEOUT",
        "webhook_allow_networks": "NUANLIU_WEBHOOK_ALLOW_NETWORKS",
        "notify_timezone": "NUANLIU_NOTIFY_TIMEZONE",
        "delivery_max_attempts": "NUANLIU_DELIVERY_MAX_ATTEMPTS",
        "delivery_retry_base": "NUANLIU_DELIVERY_RETRY_BASE",
        "delivery_retry_cap": "NUANLIU_DELIVERY_RETRY_CAP",
        "dispatcher_poll_interval": "NUANLIU_DISPATCHER_POLL_INTERVAL",
        "digest_hour": "NUANLIU_DIGEST_HOUR",
        "retention_inbox": "NUANLIU_RETENTION_INBOX",
        "retention_notifications": "NUANLIU_RETENTION_NOTIFICATIONS",
        "notify_task_queue": "NUANLIU_NOTIFY_TASK_QUEUE",
    }

    service: str = "notify"
    # The consumer's quorum queue: deliveries before dead-lettering, and unacked messages in flight.
    consumer_delivery_limit: int = 5
    consumer_prefetch: int = 100
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "nuanliu@localhost"
    # The development SMS provider writes messages to this file.
    sms_outbox_file: Path = PROJECT_ROOT / "var" / "sms.log"
    # `file` (development: the file above), `aliyun` (the SMS gateway below), or `disabled` (no SMS
    # channel: SMS deliveries fail over to other channels).
    sms_provider: str = "file"
    sms_gateway_url: str = "https://dysmsapi.aliyuncs.com/"
    sms_access_key_id: str = ""
    sms_access_key_secret: str = field(default="", repr=False)
    sms_sign_name: str = ""
    sms_region: str = "cn-hangzhou"
    # Template codes per kind of notice, `kind=code` comma-separated: transfer, tasks,
    # registration, digest, and `default` for any other (e.g. `default=SMS_100,transfer=SMS_101`).
    sms_templates: str = ""
    # Signs webhooks of subscribers saved before each got a secret of their own.
    webhook_secret: str = field(default=DEV_WEBHOOK_SECRET, repr=False)
    webhook_timeout: float = 5.0
    # CIDRs a webhook may reach although not public (e.g. an on-premises robot); empty by default.
    webhook_allow_networks: str = ""
    # Quiet hours and digest times are read in this zone; retries back off exponentially.
    notify_timezone: str = CHINA_ZONE_NAME
    delivery_max_attempts: int = 5
    delivery_retry_base: timedelta = timedelta(seconds=30)
    delivery_retry_cap: timedelta = timedelta(hours=1)
    dispatcher_poll_interval: float = 1.0
    digest_hour: int = 8
    # Inbox rows are kept past any redelivery or dead-letter replay; notifications a year, then
    # archived (with their settled deliveries). The dispatcher's Temporal worker runs the prunes.
    retention_inbox: timedelta = timedelta(days=30)
    retention_notifications: timedelta = timedelta(days=365)
    notify_task_queue: str = "nuanliu-notify"

    @classmethod
    def values_from_env(cls, env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
        # The SMS file follows the var directory unless named on its own.
        return {} if "NUANLIU_SMS_OUTBOX_FILE" in env else {"sms_outbox_file": var_dir / "sms.log"}

    def check(self) -> None:
        if self.sms_provider not in SMS_PROVIDERS:
            raise SettingsError(f"NUANLIU_SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)}")
        if self.sms_provider == "aliyun":
            missing = [
                name
                for name, value in (
                    ("NUANLIU_SMS_ACCESS_KEY_ID", self.sms_access_key_id),
                    ("NUANLIU_SMS_ACCESS_KEY_SECRET", self.sms_access_key_secret),
                    ("NUANLIU_SMS_SIGN_NAME", self.sms_sign_name),
                )
                if not value
            ]
            if missing:
                raise SettingsError(f"NUANLIU_SMS_PROVIDER=aliyun needs {', '.join(missing)}")
            try:
                templates = self.sms_template_codes()
            except ValueError as error:
                raise SettingsError(f"NUANLIU_SMS_TEMPLATES: {error}") from error
            if "default" not in templates:
                raise SettingsError("NUANLIU_SMS_TEMPLATES needs a default template (default=<code>)")
        try:
            parse_networks(self.webhook_allow_networks)
        except ValueError as error:
            raise SettingsError(f"NUANLIU_WEBHOOK_ALLOW_NETWORKS: {error}") from error
        super().check()

    def development_defaults(self) -> list[str]:
        found = super().development_defaults()
        if self.webhook_secret == DEV_WEBHOOK_SECRET:
            found.append("NUANLIU_WEBHOOK_SECRET is the development secret")
        if self.smtp_host.strip().lower() in LOCAL_HOSTS:
            found.append(f"NUANLIU_SMTP_HOST is {self.smtp_host} (the development mail sink)")
        if self.sms_provider == "file":
            found.append(
                "NUANLIU_SMS_PROVIDER is file (set aliyun with the gateway's keys, sign name and templates, or disabled)"
            )
        return found

    def sms_template_codes(self) -> dict[str, str]:
        """`NUANLIU_SMS_TEMPLATES` as {kind: template code}."""
        codes: dict[str, str] = {}
        for part in self.sms_templates.split(","):
            if not part.strip():
                continue
            kind, sep, code = part.partition("=")
            if not sep or not kind.strip() or not code.strip():
                raise ValueError(f"{part.strip()!r} is not kind=code")
            codes[kind.strip()] = code.strip()
        return codes

    def webhook_guard(self, resolver: Resolver | None = None) -> WebhookGuard:
        """Public https addresses only; plain http too in development; plus the allowed networks."""
        guard = WebhookGuard(not self.is_production, parse_networks(self.webhook_allow_networks))
        return guard if resolver is None else replace(guard, resolver=resolver)

    def delivery_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            self.notify_timezone,
            self.delivery_max_attempts,
            self.delivery_retry_base,
            self.delivery_retry_cap,
        )
