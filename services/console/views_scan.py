"""Check-in by scan (issue 19): the phone page a station's QR opens, and the station's screen.

`/scan?t=<token>` is what a phone camera opens: a member signed in sees the station's name and
confirms "报到"; anyone not signed in signs in first and comes back here (sign-in keeps `next`
to our own paths). `/stations/<code>/screen` is the counter's tablet: the screen code as a QR,
fetched again before it expires. The registration API decides everything; this only shows it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, render_template, request
from markupsafe import Markup

from services.console.backend import ApiError, api_path
from services.console.web import Page, api, signed_in, user
from shared.documents import qr_svg

blueprint = Blueprint("scan", __name__)

MAX_TOKEN = 200
STAFF = ("branch_secretary", "township_officer", "org_department")
# Fetch the next screen code this long before the shown one expires (clocks and networks lag).
REFRESH_MARGIN_S = 15
MIN_REFRESH_S = 2


def station_code_of(token: str) -> str | None:
    """The station a code names (its first field), to show the station before confirming. Not a
    check: the API verifies the signature when the member confirms."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        return None
    payload = token.split(".")[0]
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    code = text.split("|", 1)[0]
    return code if code and all(ch.isalnum() or ch == "-" for ch in code) else None


def _station(code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    return api().get_or_none(api_path("/api/v1/stations/{}", code))


@blueprint.get("/scan")
@signed_in("member")
def scan() -> Page:
    token = (request.args.get("t") or "").strip()
    station = _station(station_code_of(token))
    if station is None:
        return render_template("scan.html", state="invalid", station=None, token=""), 404
    return render_template("scan.html", state="confirm", station=station, token=token)


@blueprint.post("/scan")
@signed_in("member")
def confirm() -> Page:
    token = (request.form.get("t") or "").strip()[:MAX_TOKEN]
    station = _station(station_code_of(token))
    current = user()
    assert current is not None
    body = {"member_id": current["sub"], "kind": "qr", "qr_token": token}
    try:
        status, checkin = api().post_status("/api/v1/checkins", body)
    except ApiError as error:
        if error.status == 422:
            return render_template("scan.html", state="expired", station=station, token=""), 422
        raise
    state = "done" if status == 201 else "already"
    return render_template("scan.html", state=state, station=station, checkin=checkin, token="")


def _screen_code(code: str) -> dict[str, Any]:
    issued = api().get(api_path("/api/v1/stations/{}/qr", code))
    expires_at = datetime.fromisoformat(str(issued["expires_at"]).replace("Z", "+00:00"))
    left = (expires_at - datetime.now(UTC)).total_seconds()
    return {
        "svg": Markup(qr_svg(issued["url"], scale=8)),
        "url": issued["url"],
        "expires_at": issued["expires_at"],
        "refresh_in": max(MIN_REFRESH_S, int(left - REFRESH_MARGIN_S)),
    }


@blueprint.get("/stations/<code>/screen")
@signed_in(*STAFF)
def screen(code: str) -> Page:
    station = api().get(api_path("/api/v1/stations/{}", code))
    return render_template("station_screen.html", station=station, code=code, qr=_screen_code(code))


@blueprint.get("/stations/<code>/screen/code")
@signed_in(*STAFF)
def screen_code(code: str) -> Page:
    """The QR fragment the screen swaps in before the shown code expires."""
    return render_template("_screen_code.html", code=code, qr=_screen_code(code))
