"""The org tree as other services see it: read from registration over HTTP, cached.

An org's path from the root never changes once created, so a positive answer can be cached
for the life of the process. Scope checks are then set lookups.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from shared.auth import service_token
from shared.errors import Unavailable
from shared.settings import Settings, SettingsError


@dataclass(frozen=True)
class OrgInfo:
    code: str
    name: str
    level: str
    parent_code: str | None
    path: tuple[str, ...]
    region: str | None = None


class ServiceCredentials:
    """A service-role token, renewed before it expires.

    With a client secret, the token is an RS256 one from registration's token service
    (`client_credentials`): what production requires, each service with its own secret. Without
    one (development only), it is signed with the shared development secret."""

    def __init__(
        self, secret: str, service: str, token_url: str | None = None, client_secret: str | None = None
    ) -> None:
        self.secret = secret
        self.service = service
        self.token_url = token_url
        self.client_secret = client_secret
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                self._token, lifetime = self._new_token()
                # Renewed at three quarters of its life, so a call never carries an expiring one.
                self._renew_at = time.monotonic() + lifetime * 0.75
            return self._token

    def _new_token(self) -> tuple[str, float]:
        if not (self.token_url and self.client_secret):
            return service_token(self.secret, self.service), 3600.0
        try:
            answer = requests.post(
                self.token_url,
                json={
                    "grant_type": "client_credentials",
                    "client_id": self.service,
                    "client_secret": self.client_secret,
                },
                timeout=5,
            )
        except requests.RequestException as error:
            raise Unavailable("the token service cannot be reached") from error
        if answer.status_code != 200:
            raise Unavailable(f"the token service refused {self.service}'s credentials ({answer.status_code})")
        body = answer.json()
        return str(body["access_token"]), float(body["expires_in"])

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


def credentials_of(settings: Settings, service: str, environ: Mapping[str, str] | None = None) -> ServiceCredentials:
    """The credentials `service` calls others with: its client secret from
    `NUANLIU_CLIENT_SECRET` (required in production), else the development HS256 token."""
    env = os.environ if environ is None else environ
    client_secret = env.get("NUANLIU_CLIENT_SECRET", "")
    if settings.is_production and not client_secret:
        raise SettingsError(f"production needs NUANLIU_CLIENT_SECRET for {service}'s calls to other services")
    token_url = settings.url_of("registration") + "/api/v1/tokens"
    return ServiceCredentials(settings.jwt_secret, service, token_url, client_secret or None)


class ServiceClient:
    """A small JSON client for calling another nuanliu service with the service token."""

    def __init__(self, base_url: str, credentials: ServiceCredentials, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Every call made through this client must be idempotent (reads, and the relationship
        move keyed by its transfer): a connection error is tried once more, on a new connection."""
        try:
            return self._send(method, path, **kwargs)
        except requests.ConnectionError as error:
            # Seen under load: the server closes an idle keep-alive connection just as it is
            # reused, and the request fails before any answer. A connect timeout is not retried.
            if isinstance(error, requests.Timeout):
                raise self._unreachable(error) from error
            try:
                return self._send(method, path, **kwargs)
            except requests.RequestException as again:
                raise self._unreachable(again) from again
        except requests.RequestException as error:
            raise self._unreachable(error) from error

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self._session().request(
            method, self.base_url + path, headers=self.credentials.header(), timeout=self.timeout, **kwargs
        )

    def _unreachable(self, error: Exception) -> Unavailable:
        return Unavailable(f"{self.base_url} is unreachable: {type(error).__name__}")


class OrgDirectory:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self._cache: dict[str, OrgInfo] = {}

    def get(self, code: str) -> OrgInfo | None:
        cached = self._cache.get(code)
        if cached is not None:
            return cached
        response = self.client.request("GET", f"/api/v1/orgs/{quote(code, safe='')}")
        # 422: registration refused the code's format, so no org has it.
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for org {code}")
        body = response.json()
        info = OrgInfo(
            code=body["code"],
            name=body["name"],
            level=body["level"],
            parent_code=body.get("parent_code"),
            path=tuple(body["path"]),
            region=body.get("region"),
        )
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[code] = info
        return info

    def name_of(self, code: str) -> str | None:
        """The org's name (e.g. for a notice that must not show its code), or None if unknown."""
        info = self.get(code)
        return info.name if info is not None else None

    def in_subtree(self, code: str, ancestor: str) -> bool:
        """Is `code` the org `ancestor` or below it?"""
        info = self.get(code)
        return info is not None and ancestor in info.path
