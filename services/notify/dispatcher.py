"""The dispatcher: sends due deliveries on their channels, records each attempt, queues
fallbacks for dead ones, and sends the daily digest once the configured hour has come.
`dispatcher_process.py` runs it as its own process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

from services.notify import commands, domain
from services.notify.channels import Channel, DeliveryError, OutgoingMessage, PermanentFailure
from services.notify.channels.email import SmtpChannel
from services.notify.channels.inapp import InAppChannel
from services.notify.channels.sms import FileSmsProvider, GatewaySmsProvider, SmsChannel
from services.notify.channels.webhook import WebhookChannel
from services.notify.directory import Names, Phones
from services.notify.settings import NotifySettings
from services.notify.unit_of_work import NotifyUnitOfWork
from shared import metrics
from shared.db import Database, utcnow
from shared.sms import AliyunSmsClient

log = logging.getLogger(__name__)


def default_channels(settings: NotifySettings, phones: Phones | None = None) -> dict[str, Channel]:
    """The channels as configured; `phones` reads a member's registered phone for their SMS."""
    channels: dict[str, Channel] = {
        "inapp": InAppChannel(),
        "email": SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_sender),
        "webhook": WebhookChannel(
            settings.webhook_secret, settings.webhook_timeout, settings.webhook_guard()
        ),
    }
    # `disabled`: no SMS channel, so SMS deliveries fail over to other channels.
    if settings.sms_provider == "file":
        channels["sms"] = SmsChannel(FileSmsProvider(settings.sms_outbox_file), phones)
    elif settings.sms_provider == "aliyun":
        gateway = GatewaySmsProvider(AliyunSmsClient(settings.sms_gateway()), settings.sms_template_codes())
        channels["sms"] = SmsChannel(gateway, phones)
    return channels


class Dispatcher:
    def __init__(
        self,
        database: Database,
        channels: Mapping[str, Channel],
        policy: domain.DeliveryPolicy = domain.DEFAULT_POLICY,
        batch_size: int = 50,
        concurrency: int = 8,
        digest_hour: int | None = None,
        names: Names | None = None,
    ) -> None:
        self.database = database
        self.channels = dict(channels)
        self.policy = policy
        self.batch_size = batch_size
        self.digest_hour = digest_hour
        self.names = names
        # Slow channels (a webhook timing out) must not hold the others back.
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="notify-send")
        self._stop = threading.Event()
        self._digest_sent_for: date | None = None

    def _uow(self) -> NotifyUnitOfWork:
        # One per use case: sends run on several threads at once, and a unit of work is not shared.
        return NotifyUnitOfWork(self.database)

    def stop(self) -> None:
        self._stop.set()

    def attempt(self, message: OutgoingMessage) -> str:
        """Send one delivery and record the outcome; returns the delivery's new status."""
        channel = self.channels.get(message.channel)
        error: str | None = None
        permanent = False
        if channel is None:
            error, permanent = f"no channel {message.channel!r} is configured", True
        else:
            try:
                channel.send(message)
            except PermanentFailure as failure:
                error, permanent = str(failure), True
            except DeliveryError as failure:
                error = str(failure)
            except Exception as failure:  # a bug in a channel must not stop the dispatcher
                log.exception("channel %s crashed", message.channel)
                error = f"{type(failure).__name__}: {failure}"
        outcome = commands.RecordAttempt(message.delivery_id, error, permanent)
        status = commands.record_attempt(self._uow(), outcome, self.policy)
        metrics.DELIVERIES.labels(message.channel, status).inc()
        return status

    def run_once(self) -> int:
        """One pass: send what is due, settle failures. Returns how many deliveries were attempted."""
        claimed = commands.claim_due(self._uow(), commands.ClaimDue(self.batch_size))
        if claimed:
            list(self._pool.map(self.attempt, claimed))
        commands.settle_failed(self._uow(), commands.SettleFailed(), self.policy)
        self._maybe_send_digest(utcnow())
        return len(claimed)

    def _maybe_send_digest(self, now: datetime) -> None:
        if self.digest_hour is None:
            return
        local = domain.in_zone(now, self.policy.zone)
        if local.hour >= self.digest_hour and self._digest_sent_for != local.date():
            # send_digests is idempotent per org and day, so a restart or a second dispatcher is harmless.
            try:
                run = commands.send_digests(
                    self._uow(), commands.SendDigests(local.date()), self.policy, self.names
                )
            except Exception:
                metrics.SCHEDULE_RUNS.labels("daily_digest", "failed").inc()
                raise
            metrics.SCHEDULE_RUNS.labels("daily_digest", "succeeded").inc()
            self._digest_sent_for = local.date()
            log.info("sent %d digests for %s", run.digests, local.date())

    def run_forever(self, poll_interval: float = 1.0) -> None:
        log.info("dispatcher started")
        while not self._stop.is_set():
            try:
                attempted = self.run_once()
            except Exception:  # keep dispatching; the claimed rows' leases expire and are retried
                log.exception("dispatch pass failed")
                attempted = 0
            if attempted < self.batch_size:
                self._stop.wait(poll_interval)
        self._pool.shutdown(wait=True)
