"""Talking to the console as a browser would, without one: every form carries its CSRF token
(Flask-WTF), which a page of the session hands out."""

from __future__ import annotations

import re
from typing import Any

import requests

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_in(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def csrf_header(client: Any) -> dict[str, str]:
    """For a Flask test client: the session's token, as the header htmx sends."""
    return {"X-CSRFToken": token_in(client.get("/signin/sms").get_data(as_text=True))}


class ConsoleSession(requests.Session):
    """A requests session that fetches its CSRF token (from the sign-in page) before its first POST."""

    def __init__(self, console: str) -> None:
        super().__init__()
        self.console = console

    # The override differs from requests' own signature with some versions of its stubs only.
    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override, unused-ignore]
        if str(method).upper() == "POST" and "X-CSRFToken" not in self.headers:
            page = super().request("GET", f"{self.console}/signin/sms", timeout=10)
            self.headers["X-CSRFToken"] = token_in(page.text)
        return super().request(method, url, *args, **kwargs)
