"""A real SMTP server (aiosmtpd) on a free port that keeps what it receives: the mail relay of
the notify tests."""

from __future__ import annotations

import email
import email.message
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from tests.support.stack import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201 (aiosmtpd's hook)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def running_mailbox() -> Iterator[tuple[int, Mailbox]]:
    """The server's port and its mailbox, for as long as the block runs."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()
