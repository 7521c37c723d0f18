"""The in-app channel: the stored notification is the message, so there is nothing to send."""

from __future__ import annotations

from services.notify.channels import OutgoingMessage


class InAppChannel:
    name = "inapp"

    def send(self, message: OutgoingMessage) -> None:
        return None
