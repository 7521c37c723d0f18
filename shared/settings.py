"""Settings from environment variables, with the embedded defaults used by `make run`.

Every duration is configurable so that tests can shrink days into seconds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

DEV_JWT_SECRET = "nuanliu-dev-secret-not-for-production-use"
SERVICES = ("registration", "transfer", "tasks", "notify")
DEFAULT_PORTS = {"console": 5000, "registration": 5001, "transfer": 5002, "tasks": 5003, "notify": 5004}
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the process must not start."""


def parse_duration(text: str) -> timedelta:
    """Parse `3d`, `12h`, `30m`, `5s`, `250ms` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise SettingsError(f"not a duration: {text!r} (use e.g. 3d, 12h, 30m, 5s)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True)
class Settings:
    service: str
    environment: str = "development"
    database_url: str = ""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    broker_prefix: str = ""
    jwt_secret: str = DEV_JWT_SECRET
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "nuanliu-transfers"
    var_dir: Path = PROJECT_ROOT / "var"
    service_urls: Mapping[str, str] = field(default_factory=dict)
    # Time limits from practice (docs/domain.md); all configurable.
    stage_remind_after: timedelta = timedelta(days=3)
    stage_overdue_after: timedelta = timedelta(days=7)
    letter_validity: Mapping[str, timedelta] = field(
        default_factory=lambda: {
            "same_county": timedelta(days=30),
            "cross_county": timedelta(days=90),
            "cross_province": timedelta(days=180),
        }
    )
    letter_remind_before: timedelta = timedelta(days=7)
    # The approval chain of a transfer per route (docs/domain.md: from configuration, not hard-coded).
    transfer_chains: Mapping[str, str] = field(
        default_factory=lambda: {
            "same_county": "sending_branch,township,receiving_branch",
            "cross_county": "sending_branch,township,county,receiving_branch",
            "cross_province": "sending_branch,township,county,receiving_branch",
        }
    )
    lost_contact_days: int = 180
    task_open_hall_after: timedelta = timedelta(days=7)
    max_led_open_tasks: int = 5
    # The tasks worker's own queue, and how often its schedule runs the open-hall and overdue sweeps.
    tasks_task_queue: str = "nuanliu-tasks"
    task_sweep_every: timedelta = timedelta(minutes=1)
    relay_batch_size: int = 200
    relay_poll_interval: float = 0.2
    consumer_delivery_limit: int = 5
    consumer_prefetch: int = 100
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "nuanliu@localhost"
    sms_outbox_file: Path = PROJECT_ROOT / "var" / "sms.log"
    webhook_secret: str = "nuanliu-dev-webhook-secret"
    webhook_timeout: float = 5.0
    # Notify deliveries: quiet hours are read in this zone; retries back off exponentially.
    notify_timezone: str = "Asia/Shanghai"
    delivery_max_attempts: int = 5
    delivery_retry_base: timedelta = timedelta(seconds=30)
    delivery_retry_cap: timedelta = timedelta(hours=1)
    dispatcher_poll_interval: float = 1.0
    digest_hour: int = 8

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def url_of(self, service: str) -> str:
        return self.service_urls.get(service) or f"http://127.0.0.1:{DEFAULT_PORTS[service]}"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("NUANLIU_VAR_DIR", str(PROJECT_ROOT / "var")))
        environment = env.get("NUANLIU_ENV", "development")
        secret = env.get("NUANLIU_JWT_SECRET", DEV_JWT_SECRET)
        if len(secret.encode()) < 32:
            raise SettingsError("NUANLIU_JWT_SECRET must be at least 32 bytes")
        if environment == "production" and secret == DEV_JWT_SECRET:
            raise SettingsError("production refuses the development NUANLIU_JWT_SECRET")
        urls = {
            name: env[f"NUANLIU_{name.upper()}_URL"]
            for name in (*SERVICES, "console")
            if env.get(f"NUANLIU_{name.upper()}_URL")
        }
        validity = {
            route: parse_duration(env.get(f"NUANLIU_LETTER_VALIDITY_{route.upper()}", default))
            for route, default in (
                ("same_county", "30d"),
                ("cross_county", "90d"),
                ("cross_province", "180d"),
            )
        }
        return cls(
            service=service,
            environment=environment,
            database_url=database_url_for(service, env, var_dir),
            amqp_url=env.get("AMQP_URL", cls.amqp_url),
            broker_prefix=env.get("NUANLIU_BROKER_PREFIX", ""),
            jwt_secret=secret,
            temporal_address=env.get("TEMPORAL_ADDRESS", cls.temporal_address),
            temporal_namespace=env.get("TEMPORAL_NAMESPACE", cls.temporal_namespace),
            temporal_task_queue=env.get("NUANLIU_TASK_QUEUE", cls.temporal_task_queue),
            var_dir=var_dir,
            service_urls=urls,
            stage_remind_after=parse_duration(env.get("NUANLIU_STAGE_REMIND_AFTER", "3d")),
            stage_overdue_after=parse_duration(env.get("NUANLIU_STAGE_OVERDUE_AFTER", "7d")),
            letter_validity=validity,
            letter_remind_before=parse_duration(env.get("NUANLIU_LETTER_REMIND_BEFORE", "7d")),
            transfer_chains={
                route: env.get(f"NUANLIU_TRANSFER_CHAIN_{route.upper()}", default)
                for route, default in cls(service=service).transfer_chains.items()
            },
            lost_contact_days=int(env.get("NUANLIU_LOST_CONTACT_DAYS", "180")),
            task_open_hall_after=parse_duration(env.get("NUANLIU_TASK_OPEN_HALL_AFTER", "7d")),
            max_led_open_tasks=int(env.get("NUANLIU_MAX_LED_OPEN_TASKS", "5")),
            tasks_task_queue=env.get("NUANLIU_TASKS_TASK_QUEUE", cls.tasks_task_queue),
            task_sweep_every=parse_duration(env.get("NUANLIU_TASK_SWEEP_EVERY", "1m")),
            relay_batch_size=int(env.get("NUANLIU_RELAY_BATCH_SIZE", "200")),
            relay_poll_interval=float(env.get("NUANLIU_RELAY_POLL_INTERVAL", "0.2")),
            consumer_delivery_limit=int(env.get("NUANLIU_DELIVERY_LIMIT", "5")),
            consumer_prefetch=int(env.get("NUANLIU_PREFETCH", "100")),
            smtp_host=env.get("NUANLIU_SMTP_HOST", cls.smtp_host),
            smtp_port=int(env.get("NUANLIU_SMTP_PORT", str(cls.smtp_port))),
            smtp_sender=env.get("NUANLIU_SMTP_SENDER", cls.smtp_sender),
            sms_outbox_file=Path(env.get("NUANLIU_SMS_OUTBOX_FILE", str(var_dir / "sms.log"))),
            webhook_secret=env.get("NUANLIU_WEBHOOK_SECRET", cls.webhook_secret),
            webhook_timeout=float(env.get("NUANLIU_WEBHOOK_TIMEOUT", "5")),
            notify_timezone=env.get("NUANLIU_NOTIFY_TIMEZONE", cls.notify_timezone),
            delivery_max_attempts=int(env.get("NUANLIU_DELIVERY_MAX_ATTEMPTS", "5")),
            delivery_retry_base=parse_duration(env.get("NUANLIU_DELIVERY_RETRY_BASE", "30s")),
            delivery_retry_cap=parse_duration(env.get("NUANLIU_DELIVERY_RETRY_CAP", "1h")),
            dispatcher_poll_interval=float(env.get("NUANLIU_DISPATCHER_POLL_INTERVAL", "1.0")),
            digest_hour=int(env.get("NUANLIU_DIGEST_HOUR", "8")),
        )


def database_url_for(service: str, env: Mapping[str, str], var_dir: Path) -> str:
    """`<SERVICE>_DATABASE_URL`, else the shared `DATABASE_URL` (one schema per service), else SQLite."""
    specific = env.get(f"{service.upper()}_DATABASE_URL")
    if specific:
        return specific
    shared_url = env.get("DATABASE_URL")
    if shared_url:
        return normalise_postgres_url(shared_url)
    return f"sqlite:///{var_dir / f'{service}.db'}"


def normalise_postgres_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` and select the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
