"""Real sign-in: staff through the organization's OpenID provider (authorization code + PKCE,
state and nonce checked by authlib), then a token exchange at registration; members with their
phone and an SMS code. The API token stays in the server-side session, never in the cookie."""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from services.console import directory
from services.console.backend import ApiError, Backend
from services.console.errors import plain_error
from services.console.sessions import ServerSession
from services.console.settings import ConsoleSettings
from services.console.web import Page, home_for, settings, t

log = logging.getLogger(__name__)
blueprint = Blueprint("signin", __name__)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


def init_oidc(app: Any, config: ConsoleSettings) -> None:
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=config.oidc_client_id,
        client_secret=config.oidc_client_secret,
        server_metadata_url=config.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256", "timeout": 5},
    )
    app.extensions["console_oauth"] = oauth


def safe_next(target: str | None) -> str | None:
    """Only a same-origin relative path: no scheme, no host, no `//`, backslash or control
    character (browsers drop tabs and newlines, so `/\\t/evil` would become `//evil`)."""
    if not target or not target.startswith("/") or any(ord(c) < 0x20 or c in "\\\x7f" for c in target):
        return None
    if target.startswith("//"):
        return None
    return target


def start_session(token: str, identity: dict[str, str]) -> Page:
    """Sign the person in under a new session id, keeping only their language."""
    kept = {key: session[key] for key in ("locale", "csrf_token") if key in session}
    target = safe_next(session.get("next"))
    session.clear()
    if isinstance(session, ServerSession):
        session.regenerate()
    # The session id changes (no fixation); the language and the form token carry over.
    session.update(kept)
    session["token"] = token
    session["user"] = identity
    session["org_name"] = directory.org_name(settings(), identity["org"])
    return redirect(target) if target else home_for(identity["role"])


def _exchange(id_token: str, org: str | None = None, role: str | None = None) -> dict[str, Any]:
    body = {"grant_type": TOKEN_EXCHANGE, "subject_token": id_token, "subject_token_type": ID_TOKEN}
    if org and role:
        body.update(org=org, role=role)
    answer: dict[str, Any] = Backend(settings(), None).post("/api/v1/tokens", body)
    return answer


def _identity(answer: dict[str, Any], sub: str) -> dict[str, str]:
    from jwt import decode

    claims = decode(answer["access_token"], options={"verify_signature": False})
    return {"sub": sub, "role": claims["role"], "org": claims["org"], "name": claims.get("name") or sub}


@blueprint.get("/signin/oidc")
def oidc_start() -> Page:
    session["next"] = safe_next(request.args.get("next"))
    client = current_app.extensions["console_oauth"].idp
    config = ConsoleSettings.of(settings())
    try:
        return client.authorize_redirect(config.public_url.rstrip("/") + "/auth/callback")
    except (requests.RequestException, OAuthError, ValueError) as error:
        log.warning("OpenID provider unavailable: %s", type(error).__name__)
        return render_template("error.html", message=t(PROVIDER_DOWN)), 503


PROVIDER_DOWN = "signin.err_provider_down"
NO_ROLE = "signin.err_no_role"


@blueprint.get("/auth/callback")
def oidc_callback() -> Page:
    client = current_app.extensions["console_oauth"].idp
    try:
        token = client.authorize_access_token()
    except requests.RequestException:
        return render_template("error.html", message=t(PROVIDER_DOWN)), 503
    except (OAuthError, ValueError) as error:
        # A wrong state, a replayed code or a wrong nonce: nothing is signed in.
        log.warning("sign-in callback refused: %s", type(error).__name__)
        return render_template(
            "error.html", message=t("signin.err_incomplete")
        ), 400
    id_token = token.get("id_token", "")
    sub = (token.get("userinfo") or {}).get("sub", "")
    try:
        answer = _exchange(id_token)
    except ApiError as error:
        if error.status == 403:
            return render_template("error.html", message=t(NO_ROLE)), 403
        raise
    roles = answer.get("roles") or []
    if len(roles) > 1:
        session["pending_id_token"] = id_token
        session["pending_sub"] = sub
        session["pending_roles"] = roles
        return redirect(url_for("signin.choose"))
    return start_session(answer["access_token"], _identity(answer, sub))


@blueprint.route("/signin/choose", methods=["GET", "POST"])
def choose() -> Page:
    roles = session.get("pending_roles")
    if not roles:
        return redirect(url_for("common.signin"))
    if request.method == "POST":
        org, role = request.form.get("org", ""), request.form.get("role", "")
        if not any(item["org"] == org and item["role"] == role for item in roles):
            return render_template("choose_role.html", roles=roles), 400
        answer = _exchange(session["pending_id_token"], org, role)
        sub = session["pending_sub"]
        return start_session(answer["access_token"], _identity(answer, sub))
    return render_template("choose_role.html", roles=roles)


@blueprint.route("/signin/sms", methods=["GET", "POST"])
def sms() -> Page:
    """Members: a phone-sized page, phone first, then the code that arrived by SMS."""
    phone = (request.form.get("phone") or "").strip()
    if request.method == "GET":
        return render_template("signin_sms.html", step="phone", phone="")
    backend = Backend(settings(), None)
    if request.form.get("code"):
        try:
            answer = backend.post(
                "/api/v1/tokens",
                {"grant_type": "sms_otp", "phone": phone, "code": request.form["code"].strip()},
            )
        except ApiError as error:
            message = (
                t("signin.err_code") if error.status in (401, 422) else plain_error(error)[0]
            )
            return render_template("signin_sms.html", step="code", phone=phone, error_message=message), 400
        from jwt import decode

        claims = decode(answer["access_token"], options={"verify_signature": False})
        identity = {
            "sub": claims["sub"],
            "role": "member",
            "org": claims["org"],
            "name": claims.get("name") or "",
        }
        return start_session(answer["access_token"], identity)
    try:
        backend.post("/api/v1/otp", {"phone": phone})
    except ApiError as error:
        message = t("signin.err_too_many") if error.status == 429 else t("signin.err_phone")
        return render_template(
            "signin_sms.html", step="phone", phone=phone, error_message=message
        ), error.status
    return render_template("signin_sms.html", step="code", phone=phone)
