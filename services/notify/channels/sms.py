"""SMS through a provider interface; the development provider appends to a file."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Protocol

from services.notify.channels import OutgoingMessage, PermanentFailure
from shared.db import utcnow


class SmsProvider(Protocol):
    def send_sms(self, phone: str, text: str, reference: str) -> None:
        """Send or raise DeliveryError / PermanentFailure."""


class FileSmsProvider:
    """Writes each message as one JSON line: what a real gateway would have been asked to send."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send_sms(self, phone: str, text: str, reference: str) -> None:
        line = json.dumps(
            {"at": utcnow().isoformat(), "to": phone, "text": text, "ref": reference}, ensure_ascii=False
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")


class SmsChannel:
    name = "sms"

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    def send(self, message: OutgoingMessage) -> None:
        phone = (message.address or "").strip()
        if not (phone.isdigit() and 6 <= len(phone) <= 15):
            raise PermanentFailure("no valid phone number")
        self.provider.send_sms(phone, f"【暖流】{message.title}：{message.body}", message.delivery_id)
