"""A chat-robot webhook (WeChat Work / DingTalk style): an HMAC-signed JSON POST with a timeout."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from services.notify.channels import DeliveryError, OutgoingMessage, PermanentFailure

SIGNATURE_HEADER = "X-Nuanliu-Signature"
TIMESTAMP_HEADER = "X-Nuanliu-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of `<timestamp>.<body>`: the receiver recomputes it and checks the age."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookChannel:
    name = "webhook"

    def __init__(self, secret: str, timeout: float = 5.0) -> None:
        self.secret = secret
        self.timeout = timeout
        self._session = requests.Session()

    def send(self, message: OutgoingMessage) -> None:
        if not message.address:
            raise PermanentFailure("no webhook URL")
        body = json.dumps(
            {
                "msgtype": "markdown",
                "markdown": {"title": message.title, "text": f"### {message.title}\n\n{message.body}"},
                "event_id": message.event_id,
                "delivery_id": message.delivery_id,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret, timestamp, body),
            "Idempotency-Key": message.delivery_id,
        }
        try:
            response = self._session.post(message.address, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout as error:
            raise DeliveryError(f"webhook timed out after {self.timeout}s") from error
        except requests.RequestException as error:
            raise DeliveryError(f"webhook unreachable: {type(error).__name__}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryError(f"webhook answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentFailure(f"webhook refused with {response.status_code}")
