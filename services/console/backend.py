"""The console's only way to the four services: HTTP with the signed-in user's token.

The console is a backend-for-frontend. It holds no rules: every decision comes back from the
APIs, and their errors are turned into plain words next to the field they concern.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import requests

from shared.settings import Settings

SERVICE_OF_PATH = {
    "orgs": "registration",
    "members": "registration",
    "checkins": "registration",
    "ledger": "registration",
    "imports": "registration",
    "stations": "registration",
    "stats/stations": "registration",
    "stats/coverage": "registration",
    "stats/breakdown": "registration",
    "stats/flows": "registration",
    "tokens": "registration",
    "otp": "registration",
    "transfers": "transfer",
    "stats/transfers": "transfer",
    "tasks": "tasks",
    "points": "tasks",
    "stats/tasks": "tasks",
    "notifications": "notify",
    "preferences": "notify",
}
TIMEOUT = (3.05, 30.0)


@dataclass
class ApiError(Exception):
    """A non-2xx answer (or no answer) from a service, kept in docs/api.md's error shape."""

    status: int
    message: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        fields: dict[str, list[str]] = {}
        for location in (body.get("errors") or {}).values():
            if isinstance(location, dict):
                for name, messages in location.items():
                    fields.setdefault(name, []).extend(_flatten(messages))
        message = body.get("message") or response.reason or "error"
        return cls(response.status_code, str(message), fields)


def _flatten(messages: Any) -> list[str]:
    """Marshmallow nests messages for lists and nested schemas; a person needs flat sentences."""
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, list):
        return [text for item in messages for text in _flatten(item)]
    if isinstance(messages, dict):
        # Import errors are {row, field, message}; other nesting is {index: [messages]}.
        if "message" in messages:
            prefix = f"第 {messages['row']} 行 " if "row" in messages else ""
            return [f"{prefix}{messages.get('field', '')}: {messages['message']}".strip()]
        return [text for value in messages.values() for text in _flatten(value)]
    return [str(messages)]


def api_path(template: str, *parts: object) -> str:
    """`api_path("/api/v1/members/{}/dues", member_id)`: each part percent-encoded as one path
    segment (security review, findings 7 and 18). A part that is empty or only dots is refused
    here, because HTTP clients resolve `..` before sending and the call would reach another
    resource with the caller's token."""
    segments = []
    for part in parts:
        text = str(part)
        if not text.strip("."):
            raise ApiError(404, "no such record")
        segments.append(quote(text, safe=""))
    return template.format(*segments)


def service_for(path: str) -> str:
    """`/api/v1/stats/tasks` → tasks; `/api/v1/members/1/outflows` → registration."""
    rest = path.removeprefix("/api/v1/")
    for prefix in sorted(SERVICE_OF_PATH, key=len, reverse=True):
        if rest == prefix or rest.startswith(prefix + "/") or rest.startswith(prefix + "?"):
            return SERVICE_OF_PATH[prefix]
    raise ValueError(f"no service serves {path}")


_pool = threading.local()


def _connections() -> requests.Session:
    """One keep-alive session per worker thread: the user's token goes on each request instead,
    so connections to the APIs are reused across users without sharing anyone's identity."""
    session = getattr(_pool, "session", None)
    if session is None:
        session = _pool.session = requests.Session()
        # Nothing one user's call sets may ride along on another user's call.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


class Backend:
    """Calls one of the four APIs as one user."""

    def __init__(self, settings: Settings, token: str | None, correlation_id: str | None = None) -> None:
        self.settings = settings
        self.headers = {"X-Correlation-ID": correlation_id or uuid.uuid4().hex}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return self.settings.url_of(service_for(path)) + path

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self._request(method, path, headers, kwargs)
        except requests.RequestException as error:
            raise ApiError(503, f"{service_for(path)} unreachable") from error
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def _request(
        self, method: str, path: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> requests.Response:
        """Once more on a new connection when the kept one fails before any answer: an API closes
        an idle keep-alive connection, and now and then it does so just as the console reuses it.
        Safe to repeat: GET, PUT and DELETE are idempotent, and a POST repeats its Idempotency-Key
        (and files as bytes), so the API answers a repeat with what it did the first time."""
        try:
            return _connections().request(method, self.url(path), headers=headers, **kwargs)
        except requests.ConnectionError as error:
            if isinstance(error, requests.Timeout):  # no connection in time: the API is down or swamped
                raise
            return _connections().request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        extra = {"timeout": (min(timeout, TIMEOUT[0]), timeout)} if timeout else {}
        return self._send("GET", path, params=_clean(params), **extra).json()

    def post(self, path: str, body: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        # Every POST carries a fresh Idempotency-Key so that a retried click cannot act twice.
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if "params" in kwargs:  # a query string is built by requests, encoded, never by hand
            kwargs["params"] = _clean(kwargs["params"])
        if "files" in kwargs:
            return self._send("POST", path, headers=headers, **kwargs).json()
        return self._send("POST", path, json=dict(body or {}), headers=headers, **kwargs).json()

    def post_status(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        """A POST whose status matters as well as its body (201 made, 200 found the earlier one)."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        response = self._send("POST", path, json=dict(body), headers=headers)
        return response.status_code, response.json()

    def put(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._send("PUT", path, json=dict(body)).json()

    def get_with_etag(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
        """A record and its ETag, for a form that saves with If-Match."""
        response = self._send("GET", path, params=_clean(params))
        return response.json(), response.headers.get("ETag")

    def patch(self, path: str, body: Mapping[str, Any], if_match: str | None) -> Any:
        headers = {"If-Match": if_match} if if_match else {}
        return self._send("PATCH", path, json=dict(body), headers=headers).json()

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    def stream(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Iterator[bytes], str]:
        response = self._send("GET", path, params=_clean(params), stream=True)
        return response.iter_content(64 * 1024), response.headers.get("Content-Type", "text/csv")

    def get_from(self, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """A GET from a named service, for what every service serves alike (the audit log)."""
        url = self.settings.url_of(service) + path
        try:
            response = _connections().request("GET", url, headers=self.headers, params=_clean(params), timeout=TIMEOUT)
        except requests.RequestException as error:
            raise ApiError(503, f"{service} unreachable") from error
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.json()

    def get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """For side panels: a missing endpoint or a 404 leaves the panel empty, not the page broken."""
        try:
            return self.get(path, params)
        except ApiError as error:
            if error.status in (404, 405, 501, 503):
                return None
            raise


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Empty form fields mean "no filter"; sending `status=` would be a validation error."""
    if params is None:
        return None
    return {key: value for key, value in params.items() if value not in (None, "")}


def items_of(page: Any) -> list[dict[str, Any]]:
    if isinstance(page, dict):
        return list(page.get("items") or [])
    if isinstance(page, list):
        return page
    return []
