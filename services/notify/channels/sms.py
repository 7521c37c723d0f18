"""SMS through a provider: the development provider appends to a file; production speaks to an
SMS gateway (`shared.sms`, Alibaba Cloud SendSms) with a template per kind of notice.

A member's SMS is addressed `member:<id>`: their phone as registered, read from registration
when the message is sent (`Phones`), used for that request and dropped. No phone is logged, and
none appears in a delivery's error."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from services.notify.channels import DeliveryError, OutgoingMessage, PermanentFailure
from services.notify.directory import Phones
from services.notify.domain import REGISTERED_PHONE
from shared.db import utcnow
from shared.errors import Unavailable
from shared.sms import AliyunSmsClient, SmsRefused, SmsUnavailable

# Template variables are short at the provider (a few dozen characters each).
TEMPLATE_VARIABLE_LIMIT = 35


class SmsProvider(Protocol):
    def send_sms(self, phone: str, message: OutgoingMessage) -> None:
        """Send or raise DeliveryError / PermanentFailure."""


class FileSmsProvider:
    """Writes each message as one JSON line: what a real gateway would have been asked to send."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send_sms(self, phone: str, message: OutgoingMessage) -> None:
        line = json.dumps(
            {
                "at": utcnow().isoformat(),
                "to": phone,
                "text": f"【暖流】{message.title}：{message.body}",
                "ref": message.delivery_id,
            },
            ensure_ascii=False,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")


def notice_kind(event_type: str) -> str:
    """The kind of notice whose template an SMS uses: `transfer`, `tasks`, `registration`,
    `digest`; the template of kind `default` serves the others."""
    family = event_type.split(".", 1)[0]
    return "digest" if event_type == "notify.digest" else family


def _short(text: str) -> str:
    return text if len(text) <= TEMPLATE_VARIABLE_LIMIT else text[: TEMPLATE_VARIABLE_LIMIT - 1] + "…"


class GatewaySmsProvider:
    """Sends through the SMS gateway with the template of the notice's kind; the template has the
    variables `title` and `content`."""

    def __init__(self, client: AliyunSmsClient, templates: Mapping[str, str]) -> None:
        self.client = client
        self.templates = dict(templates)

    def send_sms(self, phone: str, message: OutgoingMessage) -> None:
        code = self.templates.get(notice_kind(message.event_type)) or self.templates.get("default")
        if not code:
            raise PermanentFailure(f"no SMS template for {notice_kind(message.event_type)} notices")
        params = {"title": _short(message.title), "content": _short(message.body)}
        try:
            self.client.send(phone, code, params, out_id=message.delivery_id)
        except SmsRefused as refused:
            raise PermanentFailure(str(refused)) from None
        except SmsUnavailable as unavailable:
            raise DeliveryError(str(unavailable)) from None


class SmsChannel:
    name = "sms"

    def __init__(self, provider: SmsProvider, phones: Phones | None = None) -> None:
        self.provider = provider
        self.phones = phones

    def send(self, message: OutgoingMessage) -> None:
        phone = self._phone(message.address or "")
        if not (phone.isdigit() and 6 <= len(phone) <= 15):
            raise PermanentFailure("no valid phone number")
        self.provider.send_sms(phone, message)

    def _phone(self, address: str) -> str:
        if not address.startswith(REGISTERED_PHONE):
            return address.strip().removeprefix("+")
        if self.phones is None:
            raise PermanentFailure("registered phones cannot be read: no directory is configured")
        try:
            phone = self.phones.phone_of(address.removeprefix(REGISTERED_PHONE))
        except Unavailable as error:
            raise DeliveryError(f"the registered phone cannot be read now: {error}") from None
        if not phone:
            raise PermanentFailure("the member has no registered phone")
        return phone.strip().removeprefix("+")
