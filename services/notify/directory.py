"""Names and phones notify reads from registration with its service token (an adapter).

Events carry the names notices need; older events and task events name orgs or members by code
or id only. Their names are read here, cached (an org's name through `shared.orgs.OrgDirectory`,
a member's through a masked member read, which holds no personal numbers), so a notice never
has to show an id. When registration cannot be reached the names are simply not known for a
while: the notice then uses a neutral phrase ("转出支部", "一名党员"), never the id.

A member's phone is read at send time (a full member read, audited by registration) and never
kept: notify stores no phone of a member, and no phone goes into an event or a log line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote

from shared.errors import Unavailable
from shared.orgs import OrgDirectory, ServiceClient, credentials_of
from shared.settings import Settings

log = logging.getLogger(__name__)

# After registration failed to answer, names are not asked for again this long: the consumer's
# path must not wait on a service that is down.
BACKOFF_SECONDS = 30.0
MEMBER_NAME_TTL = 3600.0


class Names(Protocol):
    def org_names(self, codes: Iterable[str]) -> dict[str, str]: ...

    def member_names(self, member_ids: Iterable[str]) -> dict[str, str]: ...


class Phones(Protocol):
    def phone_of(self, member_id: str) -> str | None:
        """The member's registered mobile number, or None if they have none (or are unknown).
        Raises Unavailable when registration cannot answer now (the delivery is retried)."""


class NoNames:
    """No directory (unit tests, or a deployment without registration): every name unknown."""

    def org_names(self, codes: Iterable[str]) -> dict[str, str]:
        return {}

    def member_names(self, member_ids: Iterable[str]) -> dict[str, str]:
        return {}


class RegistrationDirectory:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.orgs = OrgDirectory(client)
        self._members: dict[str, tuple[str, float]] = {}
        self._down_until = 0.0
        self._lock = threading.Lock()

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _went_down(self, error: Exception) -> None:
        log.warning("registration unavailable for names: %s", error)
        self._down_until = time.monotonic() + BACKOFF_SECONDS

    def org_names(self, codes: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for code in dict.fromkeys(c for c in codes if c):
            if not self._available():
                break
            try:
                name = self.orgs.name_of(code)
            except Unavailable as error:
                self._went_down(error)
                break
            if name:
                found[code] = name
        return found

    def member_names(self, member_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        now = time.monotonic()
        for member_id in dict.fromkeys(m for m in member_ids if m):
            with self._lock:
                cached = self._members.get(member_id)
            if cached and cached[1] > now:
                found[member_id] = cached[0]
                continue
            if not self._available():
                continue
            try:
                record = self._member(member_id, masked=True)
            except Unavailable as error:
                self._went_down(error)
                continue
            if record and record.get("name"):
                found[member_id] = str(record["name"])
                with self._lock:
                    if len(self._members) > 100_000:
                        self._members.clear()
                    self._members[member_id] = (found[member_id], now + MEMBER_NAME_TTL)
        return found

    def phone_of(self, member_id: str) -> str | None:
        record = self._member(member_id, masked=False)
        phone = (record or {}).get("phone")
        return str(phone) if phone else None

    def _member(self, member_id: str, masked: bool) -> dict[str, object] | None:
        params = {"masked": "true"} if masked else None
        response = self.client.request("GET", f"/api/v1/members/{quote(member_id, safe='')}", params=params)
        if response.status_code in (403, 404, 422):
            return None
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for a member read")
        body = response.json()
        return body if isinstance(body, dict) else None


def registration_directory(settings: Settings) -> RegistrationDirectory:
    """Registration read with notify's service credentials."""
    client = ServiceClient(settings.url_of("registration"), credentials_of(settings, "notify"), timeout=3.0)
    return RegistrationDirectory(client)
