"""A chat-robot webhook (WeChat Work / DingTalk style): an HMAC-signed JSON POST with a timeout.

Against server-side request forgery (security review, finding 6), each send resolves the URL's
host once, refuses any address that is not public (webhook_address.py), and connects to exactly
that address, naming the host in the Host header and in TLS (SNI and certificate check). No
redirect is followed, and no credentials travel in URLs. Each subscriber has a signing secret of
their own; the signature carries its timestamp: `X-Nuanliu-Signature: t=<unix>,v1=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import certifi
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from services.notify.channels import DeliveryError, OutgoingMessage, PermanentFailure
from services.notify.webhook_address import Target, WebhookGuard, WebhookRefused

SIGNATURE_HEADER = "X-Nuanliu-Signature"
TIMESTAMP_HEADER = "X-Nuanliu-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the receiver recomputes it
    with its own secret and refuses an old timestamp (a replay)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookChannel:
    name = "webhook"

    def __init__(
        self, secret: str, timeout: float = 5.0, guard: WebhookGuard | None = None, ca_file: str | None = None
    ) -> None:
        # Signs for subscribers saved before each had a secret of their own.
        self.secret = secret
        self.timeout = timeout
        self.guard = guard or WebhookGuard()
        # The certificate authorities a receiver's certificate must chain to (default: certifi's).
        self.ca_file = ca_file or certifi.where()

    def send(self, message: OutgoingMessage) -> None:
        if not message.address:
            raise PermanentFailure("no webhook URL")
        try:
            target = self.guard.resolve(message.address)
        except WebhookRefused as refused:
            raise PermanentFailure(f"webhook URL refused: {refused}") from None
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
            "Host": target.url.netloc,
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(message.secret or self.secret, timestamp, body),
            "Idempotency-Key": message.delivery_id,
        }
        status = self._post(target, body, headers)
        if 300 <= status < 400:
            raise PermanentFailure(f"webhook answered a redirect ({status}); redirects are not followed")
        if status >= 500 or status == 429:
            raise DeliveryError(f"webhook answered {status}")
        if status >= 400:
            raise PermanentFailure(f"webhook refused with {status}")

    def _post(self, target: Target, body: bytes, headers: dict[str, str]) -> int:
        pool = _pool_for(target, self.timeout, self.ca_file)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=True,
            )
            return int(response.status)
        except Urllib3Timeout as error:
            raise DeliveryError(f"webhook timed out after {self.timeout}s") from error
        except Urllib3Error as error:
            raise DeliveryError(f"webhook unreachable: {type(error).__name__}") from error
        finally:
            pool.close()


def _pool_for(target: Target, timeout: float, ca_file: str) -> urllib3.HTTPConnectionPool:
    """A connection to the checked address; over TLS the certificate must name the URL's host."""
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if target.url.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limits,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_file,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=limits, retries=False)
