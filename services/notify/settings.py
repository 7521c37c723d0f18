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
from shared.sms import SmsSettings

DEV_WEBHOOK_SECRET = "nuanliu-dev-webhook-secret"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


@dataclass(frozen=True)
class NotifySettings(SmsSettings, Settings):
    SERVICE: ClassVar[str] = "notify"
    # Template kinds: transfer, tasks, registration, digest, and `default` for any other.
    SMS_REQUIRED_TEMPLATES: ClassVar[tuple[str, ...]] = ("default",)
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        **SmsSettings.SMS_ENV,
        "consumer_delivery_limit": "NUANLIU_DELIVERY_LIMIT",
        "consumer_prefetch": "NUANLIU_PREFETCH",
        "consumer_batch_wait": "NUANLIU_CONSUMER_BATCH_WAIT",
        "smtp_host": "NUANLIU_SMTP_HOST",
        "smtp_port": "NUANLIU_SMTP_PORT",
        "smtp_sender": "NUANLIU_SMTP_SENDER",
        "sms_outbox_file": "NUANLIU_SMS_OUTBOX_FILE",
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
    # Seconds the consumer waits for more messages to join a batch (one transaction) once one has
    # arrived: under load a batch of many costs little more than a batch of one; 0 takes only
    # what is already waiting.
    consumer_batch_wait: float = 0.02
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "nuanliu@localhost"
    # The development SMS provider writes messages to this file.
    sms_outbox_file: Path = PROJECT_ROOT / "var" / "sms.log"
    # (SMS: `shared.sms.SmsSettings`; with `file`, messages go to the file above.)
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
        problems = self.sms_problems()
        if problems:
            raise SettingsError("; ".join(problems))
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
