"""Sign-in, language, notifications and preferences: pages every role has."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from services.console import signin
from services.console.backend import ApiError, api_path, items_of
from services.console.sessions import end_session
from services.console.translation import LOCALES
from services.console.views_signin import safe_next, start_session
from services.console.web import Page, api, failed, home_for, settings, signed_in, t, user

blueprint = Blueprint("common", __name__)


@blueprint.get("/")
def home() -> Page:
    current = user()
    if current is None:
        return redirect(url_for("common.signin"))
    return home_for(current["role"])


@blueprint.route("/signin", endpoint="signin", methods=["GET", "POST"])
def signin_page() -> Page:
    config = settings()
    error_message = None
    if request.method == "POST" and not signin.dev_sign_in_allowed(config):
        return render_template("error.html", message=t("error.403")), 403
    if request.method == "POST":
        try:
            identity = _chosen_identity(request.form)
            token = signin.token_for(config, identity)
        except signin.SignInRefused as refusal:
            error_message = t(str(refusal))
        except ApiError as error:
            return failed(error, "signin.html", demo=signin.DEMO_IDENTITIES, development=True)
        else:
            session["next"] = safe_next(request.args.get("next"))
            return start_session(token, identity.as_session())
    session["next"] = safe_next(request.args.get("next"))
    development = signin.dev_sign_in_allowed(config)
    return render_template(
        "signin.html",
        # The demo picker exists only in development, and never lists members (finding 3).
        demo=signin.DEMO_IDENTITIES if development else (),
        development=development,
        error_message=error_message,
        form=request.form,
    ), (400 if error_message else 200)


def own_path(target: str) -> bool:
    """Only our own paths after sign-in: an open redirect would let a link (a forged station QR)
    send people anywhere. Browsers read a backslash as a slash and drop tabs and newlines, so
    such paths would leave the site as surely as `//elsewhere`."""
    if not target.startswith("/") or "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and not target.startswith("//")


def _chosen_identity(form: Any) -> signin.Identity:
    config = settings()
    if form.get("demo"):
        for identity in signin.DEMO_IDENTITIES:
            if identity.sub == form["demo"]:
                return identity
        raise signin.SignInRefused("signin.err_unknown_demo")
    if form.get("member_id", "").strip():
        return signin.member_identity(config, form["member_id"].strip())
    return signin.custom_identity(
        form.get("sub", ""), form.get("role", ""), form.get("org", ""), form.get("name", "")
    )


@blueprint.post("/signout")
def signout() -> Page:
    # The server-side session row is deleted: the old cookie opens nothing any more.
    end_session(session)
    return redirect(url_for("common.signin"))


@blueprint.get("/lang/<code>")
def switch_language(code: str) -> Page:
    if code in LOCALES:
        session["locale"] = code
    return redirect(same_origin_path(request.referrer) or url_for("common.home"))


def same_origin_path(referrer: str | None) -> str | None:
    """The path of a Referer on this console, never another site (finding 20)."""
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


@blueprint.get("/notifications")
@signed_in()
def notifications() -> Page:
    unread_only = request.args.get("unread") == "true"
    page = api().get(
        "/api/v1/notifications",
        {"unread": "true" if unread_only else None, "cursor": request.args.get("cursor"), "limit": 20},
    )
    return render_template(
        "notifications.html",
        items=items_of(page),
        next_cursor=page.get("next_cursor"),
        unread_only=unread_only,
    )


@blueprint.post("/notifications/<notification_id>/read")
@signed_in()
def mark_read(notification_id: str) -> Page:
    item = api().post(api_path("/api/v1/notifications/{}/read", notification_id))
    if request.headers.get("HX-Request"):
        return render_template("_notification.html", item=item)
    return redirect(url_for("common.notifications"))


@blueprint.post("/notifications/read-all")
@signed_in()
def mark_all_read() -> Page:
    try:
        done = api().post("/api/v1/notifications/read-all")
    except ApiError as error:
        if error.status not in (404, 405):
            raise
        flash(t("common.unavailable"), "error")  # notify without read-all yet
    else:
        flash(t("notifications.all_read").format(done.get("updated", 0)), "ok")
    return redirect(url_for("common.notifications"))


def notification_link(item: dict[str, Any]) -> str | None:
    """The console page of a notice's subject; only a path of this console (a notice's text is
    data, and a link in it must not lead elsewhere)."""
    link = item.get("link")
    return link if isinstance(link, str) and own_path(link) else None


@blueprint.get("/notifications/badge")
@signed_in()
def unread_badge() -> Page:
    try:
        page = api().get("/api/v1/notifications", {"unread": "true", "limit": 100})
    except ApiError:
        return ""
    count = len(items_of(page))
    if count == 0:
        return ""
    label = "99+" if page.get("next_cursor") or count > 99 else str(count)
    return f'<span class="badge" data-unread="{count}">{label}</span>'


@blueprint.route("/preferences", methods=["GET", "POST"])
@signed_in()
def preferences() -> Page:
    backend = api()
    if request.method == "POST":
        body: dict[str, Any] = {
            "channels": {
                "inapp": True,
                # The switches are named channel_*: the e-mail switch once shared its name with
                # the address field, and the address arrived as "on".
                "sms": request.form.get("channel_sms") == "on",
                "email": request.form.get("channel_email") == "on",
                "webhook": request.form.get("channel_webhook") == "on",
            },
            "locale": request.form.get("locale") or "zh-CN",
        }
        for address in ("phone", "email", "webhook_url"):
            if request.form.get(address, "").strip():
                body[address] = request.form[address].strip()
        start, end = request.form.get("quiet_start", ""), request.form.get("quiet_end", "")
        if start or end:
            body["quiet_hours"] = {"start": start, "end": end}
        try:
            saved = backend.put("/api/v1/preferences", body)
        except ApiError as error:
            return failed(error, "preferences.html", prefs=body)
        if saved.get("locale") in LOCALES:
            session["locale"] = saved["locale"]
        flash(t("prefs.saved"), "ok")
        return redirect(url_for("common.preferences"))
    prefs = backend.get_or_none("/api/v1/preferences")
    if prefs is None:
        return render_template("preferences.html", prefs=None, unavailable=t("common.unavailable"))
    return render_template("preferences.html", prefs=prefs)
