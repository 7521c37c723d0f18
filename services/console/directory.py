"""Org names for display: people recognise 杨村街道第一社区党支部, not TJ-WQ-YC-01.

Names change rarely, so they are cached per process for a few minutes. The lookups use the
console's own service identity: an org's name is not personal data.
"""

from __future__ import annotations

import threading
import time

from services.console.backend import ApiError, api_path
from services.console.signin import directory
from shared.settings import Settings

TTL_SECONDS = 300.0
_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def org_name(settings: Settings, code: str | None) -> str:
    """The org's name, or its code when registration does not know it (or cannot be reached)."""
    if not code:
        return ""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(code)
    if cached and now - cached[0] < TTL_SECONDS:
        return cached[1]
    try:
        name = str(directory(settings).get(api_path("/api/v1/orgs/{}", code)).get("name") or code)
    except ApiError as error:
        if error.status != 404:
            return code  # not cached: registration may be back in a moment
        name = code
    with _lock:
        _cache[code] = (now, name)
    return name
