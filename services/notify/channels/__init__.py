"""Delivery channels behind one small interface: `send(message)` returns, or raises
`DeliveryError` (transient: retry later) or `PermanentFailure` (do not retry; use a fallback)."""

from __future__ import annotations

from typing import Protocol

from services.notify.service import OutgoingMessage


class DeliveryError(Exception):
    """The attempt failed but may succeed later (timeout, 5xx, connection refused)."""


class PermanentFailure(DeliveryError):
    """The attempt can never succeed as addressed (bad address, 4xx refusal)."""


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None: ...


__all__ = ["Channel", "DeliveryError", "PermanentFailure", "OutgoingMessage"]
