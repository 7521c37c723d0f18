"""Rate limits (Flask-Limiter), per caller: the one limiter of every app of the process.

- **Every write** (POST, PUT, PATCH, DELETE) of every service and the console counts against
  one budget per caller and app: `NUANLIU_WRITE_RATE_LIMIT` (an application limit, so a route
  with limits of its own is covered as well). Other services' calls (`service` tokens) are not
  counted: a busy workflow must not be throttled as one person would be.
- **Routes with limits of their own** take `limiter.limit(...)` (on a MethodView, in its
  `decorators`; a `key_func` of their own where they count per client address, as sign-in does).

Counts live in memory in development and in the store named by `NUANLIU_RATELIMIT_STORAGE`
(e.g. `redis://127.0.0.1:6379`) in production, where several workers must share them; production
without it refuses to start. If that store goes away, counting falls back to this process's
memory rather than refusing every request. A refusal is a 429 with `Retry-After` in seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from shared.errors import NuanliuError
from shared.settings import Settings, SettingsError
from shared.web.auth import bearer_principal

STORAGE_VARIABLE = "NUANLIU_RATELIMIT_STORAGE"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The app's write budget per caller (app.config, from Settings.write_rate_limit).
WRITE_LIMIT_CONFIG = "NUANLIU_WRITE_RATE_LIMIT"
# An app whose people carry no bearer token (the console, behind one proxy address) names the
# signed-in person here (app.config: a callable answering their `sub`, or None).
CALLER_CONFIG = "NUANLIU_RATELIMIT_CALLER"


def caller_key() -> str:
    """Who is counted: the verified caller (`sub`), else the person an app knows otherwise (the
    console: its signed-in session, `CALLER_CONFIG`), else the client address. An invalid token
    counts against the address, so forging tokens does not buy fresh counts."""
    try:
        principal = bearer_principal()
    except NuanliuError:
        principal = None
    subject = principal.sub if principal is not None else None
    signed_in: Callable[[], str | None] | None = current_app.config.get(CALLER_CONFIG)
    if subject is None and signed_in is not None:
        subject = signed_in()
    if subject:
        return "sub:" + hashlib.sha256(subject.encode()).hexdigest()[:32]
    return "addr:" + (request.remote_addr or "unknown")


def client_address() -> str:
    """Per client address: for what people do before they have a token (sign-in, codes)."""
    return "addr:" + get_remote_address()


def write_limit() -> str:
    return str(current_app.config[WRITE_LIMIT_CONFIG])


def not_a_counted_write() -> bool:
    """Reads are not counted, nor other services' calls."""
    if request.method not in WRITE_METHODS:
        return True
    try:
        principal = bearer_principal()
    except NuanliuError:
        return False
    return principal is not None and principal.is_service


limiter = Limiter(
    key_func=caller_key,
    application_limits=[write_limit],
    application_limits_exempt_when=not_a_counted_write,
    headers_enabled=True,
    retry_after="delta-seconds",
    swallow_errors=True,
    in_memory_fallback_enabled=True,
)


def storage_uri(settings: Settings) -> str:
    uri = settings.ratelimit_storage.strip()
    if uri:
        return uri
    if settings.is_production:
        raise SettingsError(f"production needs {STORAGE_VARIABLE} (e.g. redis://host:6379) for rate limits")
    return "memory://"


def init_limits(app: Flask, settings: Settings) -> None:
    """Before any other before-request hook that may refuse (CSRF, bodies): a refused write
    still counts."""
    app.config.update(
        RATELIMIT_STORAGE_URI=storage_uri(settings),
        RATELIMIT_HEADERS_ENABLED=True,
        **{WRITE_LIMIT_CONFIG: settings.effective_write_rate_limit},
    )
    limiter.init_app(app)
