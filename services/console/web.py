"""What every console page needs: the signed-in user, their backend, rendering and API errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from services.console.backend import ApiError, Backend
from services.console.errors import plain_error
from services.console.translation import t
from shared.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
Page = str | WerkzeugResponse | tuple[str, int]

# Which pages each role sees in the navigation, in order.
MEMBER_NAVIGATION = [
    ("members.status", "nav.status"),
    ("transfers.mine", "nav.transfers"),
    ("tasks.board", "nav.tasks"),
    ("common.notifications", "nav.notifications"),
    ("common.preferences", "nav.preferences"),
]
# Every desk reaches every page its role may open: the roster, ledger, statistics and ranking
# serve a branch secretary as much as a county's department.
STAFF_NAVIGATION = [
    ("transfers.inbox", "nav.inbox"),
    ("members.roster", "nav.roster"),
    ("members.ledger", "nav.ledger"),
    ("members.dashboard", "nav.dashboard"),
    ("tasks.board", "nav.tasks"),
    ("tasks.stats", "nav.stats"),
    ("tasks.ranking", "nav.ranking"),
    ("common.notifications", "nav.notifications"),
    ("common.preferences", "nav.preferences"),
]
INFLOW = ("admin.inflow_roster", "nav.inflow")
STATIONS = ("admin.stations", "nav.stations")
# The admin pages: an org department (and the admin) keeps its org's staff, reads the audit log.
ADMIN_PAGES = [("admin.staff", "nav.staff"), ("admin.audit", "nav.audit"), STATIONS]
NAVIGATION: dict[str, list[tuple[str, str]]] = {
    "member": MEMBER_NAVIGATION,
    "branch_secretary": [*STAFF_NAVIGATION[:2], INFLOW, *STAFF_NAVIGATION[2:]],
    # A township officer's day starts at the task board it runs.
    "township_officer": [STAFF_NAVIGATION[4], *STAFF_NAVIGATION[:2], INFLOW, *STAFF_NAVIGATION[2:4], STATIONS, *STAFF_NAVIGATION[5:]],
    "org_department": [
        STAFF_NAVIGATION[0], STAFF_NAVIGATION[3], STAFF_NAVIGATION[1], INFLOW, STAFF_NAVIGATION[2],
        *STAFF_NAVIGATION[4:7], *ADMIN_PAGES, *STAFF_NAVIGATION[7:],
    ],  # fmt: skip
    "admin": [*STAFF_NAVIGATION[:2], INFLOW, *STAFF_NAVIGATION[2:7], *ADMIN_PAGES, *STAFF_NAVIGATION[7:]],
}


def settings() -> Settings:
    return current_app.extensions["console"]


def user() -> dict[str, str] | None:
    return session.get("user")


def api() -> Backend:
    return Backend(settings(), session.get("token"), getattr(g, "request_id", None))


def signed_in(*roles: str) -> Callable[[F], F]:
    """Send strangers to sign-in; show a plain 403 page to the wrong role (admins may see all)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            current = user()
            if current is None:
                return redirect(url_for("common.signin", next=request.full_path.rstrip("?")))
            if roles and current["role"] not in roles and current["role"] != "admin":
                return render_template("error.html", message=t("error.403")), 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def failed(error: ApiError, template: str, **context: Any) -> Page:
    """Re-render the form with what was typed and the API's complaint next to each field."""
    if error.status == 401:
        session.clear()
        return redirect(url_for("common.signin", next=request.path))
    message, field_errors = plain_error(error)
    context.setdefault("form", request.form)
    status = error.status if 400 <= error.status < 600 else 400
    return render_template(template, error_message=message, field_errors=field_errors, **context), status


def body_from(form: Mapping[str, str], names: Iterable[str], integers: Iterable[str] = ()) -> dict[str, Any]:
    """Only what the person filled in; numbers as numbers when they are numbers.

    Anything else goes to the API as typed, so that the API (which owns the rules) names the field.
    """
    body: dict[str, Any] = {}
    numeric = set(integers)
    for name in names:
        value = (form.get(name) or "").strip()
        if value == "":
            continue
        if name in numeric:
            try:
                body[name] = int(value)
                continue
            except ValueError:
                pass
        body[name] = value
    return body


def home_for(role: str) -> WerkzeugResponse:
    first = NAVIGATION.get(role) or [("common.notifications", "")]
    return redirect(url_for(first[0][0]))
