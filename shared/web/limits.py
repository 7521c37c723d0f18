"""Rate limits (Flask-Limiter), per caller.

One `limiter` for every app of the process: views take limits with `limiter.limit(...)` (on a
MethodView, in its `decorators`). Counts live in memory in development and in the store named by
`NUANLIU_RATELIMIT_STORAGE` (e.g. `redis://127.0.0.1:6379`) in production, where several
workers must share them; production without it refuses to start.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter

from shared.errors import NuanliuError
from shared.settings import Settings, SettingsError
from shared.web.auth import bearer_principal

STORAGE_VARIABLE = "NUANLIU_RATELIMIT_STORAGE"


def caller_key() -> str:
    """Who is counted: the verified caller (`sub`), else the client address. An invalid token
    counts against the address, so forging tokens does not buy fresh counts."""
    try:
        principal = bearer_principal()
    except NuanliuError:
        principal = None
    if principal is not None:
        return "sub:" + hashlib.sha256(principal.sub.encode()).hexdigest()[:32]
    return "addr:" + (request.remote_addr or "unknown")


limiter = Limiter(key_func=caller_key, headers_enabled=True)


def storage_uri(settings: Settings) -> str:
    uri = settings.ratelimit_storage.strip()
    if uri:
        return uri
    if settings.is_production:
        raise SettingsError(f"production needs {STORAGE_VARIABLE} (e.g. redis://host:6379) for rate limits")
    return "memory://"


def init_limits(app: Flask, settings: Settings) -> None:
    app.config.update(RATELIMIT_STORAGE_URI=storage_uri(settings), RATELIMIT_HEADERS_ENABLED=True)
    limiter.init_app(app)
