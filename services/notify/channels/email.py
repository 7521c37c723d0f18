"""E-mail over SMTP with the standard library."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

from services.notify.channels import DeliveryError, OutgoingMessage, PermanentFailure


class SmtpChannel:
    name = "email"

    def __init__(
        self, host: str, port: int, sender: str, timeout: float = 10.0, local_hostname: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self._local_hostname = local_hostname

    @property
    def local_hostname(self) -> str:
        # smtplib would look the FQDN up on every connection, which can take seconds: once is enough.
        if self._local_hostname is None:
            self._local_hostname = socket.getfqdn()
        return self._local_hostname

    def send(self, message: OutgoingMessage) -> None:
        if not message.address:
            raise PermanentFailure("no e-mail address")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.title
        # Lets a mail client (and a retried attempt) be recognised as the same message.
        mail["Message-ID"] = f"<{message.delivery_id}@nuanliu>"
        mail.set_content(message.body)
        try:
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
            try:
                smtp.send_message(mail)
            finally:
                _quit_quietly(smtp)
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentFailure(f"recipient refused: {error.recipients}") from error
        except smtplib.SMTPResponseException as error:
            text = f"SMTP {error.smtp_code}: {error.smtp_error!r}"
            if 500 <= error.smtp_code < 600:
                raise PermanentFailure(text) from error
            raise DeliveryError(text) from error
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP unavailable: {error or type(error).__name__}") from error


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    # Once the server has accepted the message it is delivered: a failed QUIT must not make the
    # dispatcher retry and send the mail twice.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
