"""The notify service's own knobs (what all services share is `shared.settings.Settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from services.notify.domain import DeliveryPolicy
from shared.clock import CHINA_ZONE_NAME
from shared.settings import PROJECT_ROOT, Settings


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
        "webhook_secret": "NUANLIU_WEBHOOK_SECRET",
        "webhook_timeout": "NUANLIU_WEBHOOK_TIMEOUT",
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
    webhook_secret: str = "nuanliu-dev-webhook-secret"
    webhook_timeout: float = 5.0
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

    def delivery_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            self.notify_timezone, self.delivery_max_attempts, self.delivery_retry_base, self.delivery_retry_cap
        )
