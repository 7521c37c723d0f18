"""Delivery channels behind one small interface: `send(message)` returns, or raises
`DeliveryError` (transient: retry later) or `PermanentFailure` (do not retry; use a fallback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """A claimed delivery with the text to send, in the person's locale."""

    delivery_id: str
    event_id: str
    channel: str
    address: str | None
    title: str
    body: str
    status: str
    attempts: int
    # A webhook subscriber's own signing secret (None: saved before each had one).
    secret: str | None = field(default=None, repr=False)
    # The notice's event type: an SMS gateway picks its template by the kind of notice.
    event_type: str = ""


class DeliveryError(Exception):
    """The attempt failed but may succeed later (timeout, 5xx, connection refused)."""


class PermanentFailure(DeliveryError):
    """The attempt can never succeed as addressed (bad address, 4xx refusal)."""


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None: ...


__all__ = ["Channel", "DeliveryError", "PermanentFailure", "OutgoingMessage"]
