"""A request context in one of the console's locales, for unit tests of its wording."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from flask import session

from services.console.app import create_app
from shared.settings import Settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_app = None


@contextmanager
def in_locale(locale: str) -> Iterator[None]:
    """Nothing listens behind this console: an org's name falls back to its code at once."""
    global _app
    if _app is None:
        dead = f"http://127.0.0.1:{_closed_port()}"
        _app = create_app(
            Settings(service="console", service_urls={name: dead for name in ("registration", "transfer", "tasks", "notify")})
        )
    with _app.test_request_context("/"):
        session["locale"] = locale
        yield
