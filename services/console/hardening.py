"""The console's browser-facing defences (finding 9 of the security review): a CSRF token on
every form and htmx call (Flask-WTF), and the security headers (Flask-Talisman) with a CSP that
the vendored htmx and ECharts pass: scripts only from the console itself, no framing."""

from __future__ import annotations

from flask import Flask, current_app, session
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect

from services.console.settings import ConsoleSettings
from shared.web.limits import CALLER_CONFIG, client_address, init_limits, limiter

SIGNIN_LIMIT_CONFIG = "NUANLIU_SIGNIN_RATE_LIMIT"

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    # ECharts writes its tooltips' inline styles; no script can be injected through a style.
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def signed_in_subject() -> str | None:
    person = session.get("user")
    return str(person["sub"]) if isinstance(person, dict) and person.get("sub") else None


def _signin_limit() -> str:
    return str(current_app.config[SIGNIN_LIMIT_CONFIG])


def init_rate_limits(app: Flask, settings: ConsoleSettings) -> None:
    """Sign-in attempts per client address: the staff and member forms and the provider's return
    (besides the write budget every POST has, set up by init_hardening)."""
    app.config[SIGNIN_LIMIT_CONFIG] = settings.signin_rate_limit
    limit = limiter.limit(_signin_limit, key_func=client_address, methods=["POST"])
    for endpoint in ("common.signin", "signin.sms", "signin.choose"):
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # type: ignore[assignment]
    callback = limiter.limit(_signin_limit, key_func=client_address)
    app.view_functions["signin.oidc_callback"] = callback(app.view_functions["signin.oidc_callback"])  # type: ignore[assignment]


def init_hardening(app: Flask, settings: ConsoleSettings) -> None:
    # The shared limiter first: its write budget counts a POST that CSRF then refuses. People
    # reach the console through one proxy address: the signed-in ones are counted each by name.
    app.config[CALLER_CONFIG] = signed_in_subject
    init_limits(app, settings)
    # The token lives in the server-side session, valid as long as the session is.
    app.config.update(WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_HEADERS=["X-CSRFToken"])
    CSRFProtect(app)
    production = settings.is_production
    Talisman(
        app,
        force_https=production,
        strict_transport_security=production,
        strict_transport_security_max_age=31536000,
        session_cookie_secure=production,
        session_cookie_http_only=True,
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="same-origin",
        x_content_type_options=True,
    )
