"""The web console: server-rendered pages over the four APIs (a backend-for-frontend).

It holds no business rules and no database; the only state is the signed session cookie.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from services.console import (
    directory,
    exports,
    views_admin,
    views_common,
    views_documents,
    views_members,
    views_scan,
    views_signin,
    views_tasks,
    views_transfers,
)
from services.console.backend import ApiError
from services.console.errors import plain_error
from services.console.hardening import init_hardening, init_rate_limits
from services.console.sessions import ServerSessionInterface, end_session, open_session_store
from services.console.settings import ConsoleSettings
from services.console.translation import has_message, init_translations, locale, t
from services.console.views_signin import init_oidc
from services.console.web import NAVIGATION, user
from shared.logging import configure_logging
from shared.orgs import credentials_of
from shared.settings import SERVICES, Settings

log = logging.getLogger(__name__)


# China keeps one time zone; the APIs speak UTC, people read Beijing time.
DISPLAY_ZONE = timezone(timedelta(hours=8))


def short_time(value: Any) -> str:
    """ISO times from the APIs shown as `2026-11-22 19:40`, in Beijing time."""
    if not value:
        return ""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    try:
        parsed = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except ValueError:
        return str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(DISPLAY_ZONE)
    return parsed.strftime("%Y-%m-%d %H:%M")


def months_behind(paid_through: Any, today: date | None = None) -> int:
    """How many months of dues are unpaid up to this month (Beijing time): shown, not enforced."""
    try:
        year, month = (int(part) for part in str(paid_through).split("-"))
    except ValueError:
        return 0
    today = today or datetime.now(DISPLAY_ZONE).date()
    return max(0, (today.year - year) * 12 + today.month - month)


def create_app(settings: Settings | None = None) -> Flask:
    settings = ConsoleSettings.of(settings or ConsoleSettings.from_env())
    if settings.is_production:
        credentials_of(settings, "console")  # refuse to start without the console's client secret
    configure_logging("console-web")
    app = Flask(__name__)
    app.secret_key = settings.session_secret()
    app.config.update(
        # `__Host-`: the browser sends it only over HTTPS, to this host, for every path.
        SESSION_COOKIE_NAME="__Host-nuanliu" if settings.is_production else "nuanliu_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
    )
    app.session_interface = ServerSessionInterface(
        open_session_store(settings), settings.session_idle, settings.session_absolute
    )
    app.extensions["console"] = settings
    init_translations(app)
    init_oidc(app, settings)
    init_hardening(app, settings)
    # views_documents: the public /verify page, the letter and activity-card PDFs; views_scan:
    # the phone's /scan page a station's QR opens, and the station's screen.
    for module in (
        views_common, views_members, views_transfers, views_tasks, views_signin, views_documents, views_scan,
        views_admin, exports,
    ):
        app.register_blueprint(module.blueprint)
    init_rate_limits(app, settings)
    init_pages(app, settings)
    init_health(app, settings)
    init_error_pages(app)
    return app


def init_pages(app: Flask, settings: ConsoleSettings) -> None:
    """What every page's template sees, and the request id its error page shows."""
    app.jinja_env.filters["when"] = short_time
    app.jinja_env.filters["months_behind"] = months_behind
    app.jinja_env.filters["t_task_status"] = lambda status: t(f"task_status.{status}")
    app.jinja_env.filters["standing_choice"] = lambda standing: (standing, t(f"standing_decision.{standing}"))
    app.jinja_env.filters["contact_choice"] = lambda method: (method, t(f"contact_method.{method}"))
    app.jinja_env.filters["quarter_choice"] = lambda quarter: (quarter, views_tasks.quarter_label(quarter))
    app.jinja_env.filters["station_kind_choice"] = lambda kind: (kind, t(f"station_kind.{kind}"))
    app.jinja_env.filters["org_choice"] = lambda org: (org["code"], org.get("name") or org["code"])
    app.jinja_env.globals["has_message"] = has_message
    app.jinja_env.globals["export_links"] = exports.export_links
    app.jinja_env.globals["export_cap"] = exports.EXPORT_CAP
    app.jinja_env.globals["quarter_label"] = views_tasks.quarter_label
    app.jinja_env.globals["recent_quarters"] = views_tasks.recent_quarters

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex

    @app.context_processor
    def page_context() -> dict[str, Any]:
        current = user()
        return {
            "t": t,
            "user": current,
            "locale": locale(),
            "navigation": NAVIGATION.get(current["role"], []) if current else [],
            "org_name": session.get("org_name"),
            "field_errors": {},
            "form": {},
            "query_without_cursor": query_without_cursor,
            "page_links": page_links,
            "notification_link": views_common.notification_link,
            "org": lambda code: directory.org_name(settings, code),
            # The same, for templates whose context names a variable `org` (the code shown).
            "org_label": lambda code: directory.org_name(settings, code),
        }


def init_health(app: Flask, settings: ConsoleSettings) -> None:
    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Any:
        down = unreachable_services(settings)
        if down:
            return jsonify(status="unavailable", down=down), 503
        return jsonify(status="ready")


def init_error_pages(app: Flask) -> None:
    """Plain Chinese pages for every failure: an API's refusal, an HTTP error, a bug."""

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Any:
        if error.status == 401:
            end_session(session)
            return redirect(url_for("common.signin", next=request.path))
        message, fields = plain_error(error)
        details = "；".join(f"{name}: {text}" for name, text in fields.items())
        status = error.status if 400 <= error.status < 600 else 502
        return render_template("error.html", message=message, details=details), status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        key = f"error.{error.code}"
        message = t(key) if has_message(key) else t("error.other").rstrip("：: ")
        return render_template("error.html", message=message), error.code or 500

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        # Never a stack trace on screen: it goes to the log with the request id instead.
        log.exception("console page failed (request %s)", getattr(g, "request_id", "-"))
        return render_template("error.html", message=t("error.500"), request_id=g.get("request_id")), 500


def page_links(next_cursor: str | None) -> dict[str, str | None]:
    """Previous / first / next for a cursor-paged list. The cursors of the pages before this one
    ride along as `back=` parameters (the APIs page forwards only), all encoded by urlencode."""
    current = request.args.get("cursor")
    trail = request.args.getlist("back")
    kept = [(key, value) for key, value in request.args.items(multi=True) if key not in ("cursor", "back")]

    def link(cursor: str | None, back: list[str]) -> str:
        pairs = kept + [("back", item) for item in back] + ([("cursor", cursor)] if cursor else [])
        return f"{request.path}?{urlencode(pairs)}" if pairs else request.path

    previous = link(trail[-1] or None, trail[:-1]) if current and trail else None
    return {
        "previous": previous,
        "first": link(None, []) if current and (not trail or trail[-1]) else None,
        "next": link(next_cursor, [*trail, current or ""]) if next_cursor else None,
    }


def query_without_cursor() -> str:
    """The current filters, so that "next page" keeps them."""
    return urlencode([(key, value) for key, value in request.args.items(multi=True) if key != "cursor"])


def unreachable_services(settings: Settings) -> list[str]:
    def probe(service: str) -> str | None:
        try:
            ok = requests.get(settings.url_of(service) + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            ok = False
        return None if ok else service

    with ThreadPoolExecutor(len(SERVICES)) as pool:
        return [name for name in pool.map(probe, SERVICES) if name]
