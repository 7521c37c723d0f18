"""Rate limits, per caller: the write budget every app has, and Flask-Limiter for the routes with
limits of their own.

- **Every write** (POST, PUT, PATCH, DELETE) of every service and the console counts against
  one budget per caller and app: `NUANLIU_WRITE_RATE_LIMIT`, counted by `WriteBudget` in one
  before-request hook of its own (so a route with limits of its own is covered as well). Other
  services' calls (`service` tokens) are not counted: a busy workflow must not be throttled as
  one person would be.
- **Routes with limits of their own** take `limiter.limit(...)` (on a MethodView, in its
  `decorators`; a `key_func` of their own where they count per client address, as sign-in does),
  and a whole blueprint `limit_blueprint(...)`. Flask-Limiter's before-request check runs only
  on the requests of such blueprints (`_check_blueprint_limits_only`).

Why the budget is not a Flask-Limiter application limit (decision 0023): on every write that
evaluation cost about a millisecond of CPU, and the `limits` library's MemoryStorage starts a
`threading.Timer` for its expiry sweep whenever the previous one has ended (about one thread
per two writes under load). The budget uses the same `limits` library directly: its
fixed-window strategy over `ExpiringCounts` (memory, expired lazily, no thread) in development,
over the store named by `NUANLIU_RATELIMIT_STORAGE` (e.g. `redis://127.0.0.1:6379`) in
production, where several workers must share the counts; production without it refuses to
start. If that store goes away, counting falls back to this process's memory rather than
refusing every request. A refusal is a 429 with `Retry-After` in seconds.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, g, request
from flask.wrappers import Response
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from shared.errors import NuanliuError
from shared.settings import Settings, SettingsError
from shared.web.auth import bearer_principal

log = logging.getLogger(__name__)

STORAGE_VARIABLE = "NUANLIU_RATELIMIT_STORAGE"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The app's write budget per caller (app.config, from Settings.write_rate_limit).
WRITE_LIMIT_CONFIG = "NUANLIU_WRITE_RATE_LIMIT"
# An app whose people carry no bearer token (the console, behind one proxy address) names the
# signed-in person here (app.config: a callable answering their `sub`, or None).
CALLER_CONFIG = "NUANLIU_RATELIMIT_CALLER"
# The app's WriteBudget (app.extensions).
WRITE_BUDGET_EXTENSION = "nuanliu_write_budget"
# After the shared store failed, this long on this process's memory before trying it again.
STORE_RETRY_SECONDS = 5.0


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


def counted_caller() -> str | None:
    """The key a write is counted under, or None when it is not counted: reads, and other
    services' calls. An invalid token is counted against the client address."""
    if request.method not in WRITE_METHODS:
        return None
    try:
        principal = bearer_principal()
    except NuanliuError:
        return caller_key()
    if principal is not None and principal.is_service:
        return None
    return caller_key()


class ExpiringCounts(Storage):
    """The `limits` storage contract for fixed windows, in this process's memory, expired lazily:
    a count whose window has ended reads as zero, and ended windows are dropped by a sweep at
    most once a minute, run by the write that finds it due. No thread: `limits`' own
    MemoryStorage starts a timer thread for its expiry whenever the previous one has ended."""

    SWEEP_EVERY_SECONDS = 60.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # key → (count, the window's end as time.time())
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.time() + self.SWEEP_EVERY_SECONDS

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._counts = {name: entry for name, entry in self._counts.items() if entry[1] > now}
                self._next_sweep = now + self.SWEEP_EVERY_SECONDS
            count, ends = self._counts.get(key, (0, 0.0))
            if ends <= now:  # a new window starts with this write
                count, ends = 0, now + expiry
            count += amount
            self._counts[key] = (count, ends)
            return count

    def get(self, key: str) -> int:
        count, ends = self._counts.get(key, (0, 0.0))
        return count if ends > time.time() else 0

    def get_expiry(self, key: str) -> float:
        _count, ends = self._counts.get(key, (0, 0.0))
        return ends if ends > time.time() else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            dropped = len(self._counts)
            self._counts = {}
        return dropped

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class WriteBudget:
    """Every write of one app, counted per caller against `limits` (e.g. "60/minute;1000/hour")
    with the fixed-window strategy, in `storage_uri` (memory:// is `ExpiringCounts`)."""

    def __init__(self, app_name: str, limits: str, storage_uri: str) -> None:
        self.app_name = app_name
        self.items: list[RateLimitItem] = parse_many(limits)
        self.memory = FixedWindowRateLimiter(ExpiringCounts())
        self.shared = (
            None
            if storage_uri.startswith("memory://")
            else FixedWindowRateLimiter(storage_from_string(storage_uri, wrap_exceptions=True))
        )
        self._shared_down_until = 0.0

    def hit(self, caller: str) -> int | None:
        """Count one write of `caller`: None when it is within the budget, else the seconds until
        the window that refused it ends (the write is still counted, as before)."""
        strategy = self._strategy()
        try:
            return self._hit(strategy, caller)
        except StorageError as error:
            # The shared store went away: this process's memory counts meanwhile, rather than
            # refusing every write.
            log.warning("rate limit store unreachable (%s); counting in memory for now", error.storage_error)
            self._shared_down_until = time.monotonic() + STORE_RETRY_SECONDS
            return self._hit(self.memory, caller)

    def _strategy(self) -> FixedWindowRateLimiter:
        if self.shared is None or time.monotonic() < self._shared_down_until:
            return self.memory
        return self.shared

    def _hit(self, strategy: FixedWindowRateLimiter, caller: str) -> int | None:
        for item in self.items:
            if not strategy.hit(item, self.app_name, caller):
                reset = strategy.get_window_stats(item, self.app_name, caller).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None


def _count_write() -> None:
    caller = counted_caller()
    if caller is None:
        return
    budget: WriteBudget = current_app.extensions[WRITE_BUDGET_EXTENSION]
    retry_after = budget.hit(caller)
    if retry_after is not None:
        g.write_retry_after = retry_after
        raise TooManyRequests(f"too many writes ({current_app.config[WRITE_LIMIT_CONFIG]}); try again later")


def _say_when(response: Response) -> Response:
    """A refused write's 429 says when to try again (whoever renders the error page)."""
    retry_after = g.get("write_retry_after")
    if retry_after is not None and response.status_code == 429:
        response.headers["Retry-After"] = str(retry_after)
    return response


# The routes with limits of their own (sign-in, codes, imports, letter verification).
limiter = Limiter(
    key_func=caller_key,
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
    uri = storage_uri(settings)
    app.config.update(
        RATELIMIT_STORAGE_URI=uri,
        RATELIMIT_HEADERS_ENABLED=True,
        **{WRITE_LIMIT_CONFIG: settings.effective_write_rate_limit},
    )
    app.extensions[WRITE_BUDGET_EXTENSION] = WriteBudget(
        settings.service, settings.effective_write_rate_limit, uri
    )
    app.before_request(_count_write)
    app.after_request(_say_when)
    limiter.init_app(app)
    _check_blueprint_limits_only(app)


# Blueprints with limits of their own (limit_blueprint): their requests are checked before the
# view, by Flask-Limiter's before-request hook.
_LIMITED_BLUEPRINTS: set[str] = set()


def limit_blueprint(blueprint: Blueprint, limit: Callable[[], str], key_func: Callable[[], str]) -> None:
    """A limit of its own on every route of `blueprint` (per `key_func`), checked before the view."""
    limiter.limit(limit, key_func=key_func)(blueprint)
    _LIMITED_BLUEPRINTS.add(blueprint.name)


def _check_blueprint_limits_only(app: Flask) -> None:
    """Run Flask-Limiter's before-request check only on requests to a blueprint with limits of
    its own. It is what checks those; a decorated view or a `with limiter.limit(...)` block
    checks its own limit when it runs, and no app has default or application limits (the write
    budget is counted above). On every other request the hook found nothing to check at a cost
    of 0.15 ms, a tenth of a check-in's CPU in the API."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit  # the hook init_app registered (Flask-Limiter 4)
    if check not in hooks:
        raise RuntimeError("Flask-Limiter's before-request hook moved: see _check_blueprint_limits_only")

    def check_blueprint_limits() -> None:
        if request.blueprint in _LIMITED_BLUEPRINTS:
            check()

    hooks[hooks.index(check)] = check_blueprint_limits
