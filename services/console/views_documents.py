"""Papers (issue 20): the public letter verification page, and the letter and activity-card PDFs
passed through from the APIs with the signed-in user's token (the APIs decide who may print).

`/verify?n=&c=` is what a phone camera opens from the letter's QR code: no sign-in, one large
answer in Chinese. The console asks the transfer API with its service token and forwards the
phone's address, so the API's per-client rate limit counts phones, not the console.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from flask import Blueprint, Response, render_template, request

from services.console.backend import TIMEOUT, ApiError, api_path
from services.console.web import Page, api, settings, signed_in
from shared.orgs import ServiceCredentials, credentials_of
from shared.settings import Settings

blueprint = Blueprint("documents", __name__)

# What the letter's status means to whoever holds it (API.md's statuses, as the paper says them).
VERDICTS = {
    "valid": ("有效", "该介绍信真实有效，请凭此办理接转。"),
    "used": ("已使用", "该介绍信已办理报到，组织关系已转接完成。"),
    "expired": ("已过期", "该介绍信已超过有效期，请联系开具单位重新开具。"),
    "superseded": ("已作废", "该介绍信已被重新开具的介绍信取代，请以新介绍信为准。"),
    "cancelled": ("已撤销", "该转接已撤回或终止，介绍信不再有效。"),
}
NOT_FOUND = ("未查到", "没有与该编号和核验码相符的介绍信，请核对或联系开具单位。")
TOO_MANY = ("请稍后再试", "查询过于频繁，请一分钟后再扫码核验。")
UNAVAILABLE = ("暂时无法核验", "核验服务暂时不可用，请稍后再试。")


_CREDENTIALS: dict[int, ServiceCredentials] = {}


def _credentials(config: Settings) -> ServiceCredentials:
    """One set of credentials per settings object: its token is cached until it nears expiry."""
    key = id(config)
    if key not in _CREDENTIALS:
        _CREDENTIALS[key] = credentials_of(config, "console")
    return _CREDENTIALS[key]


def check_letter(number: str, code: str, client_address: str) -> tuple[int, dict[str, Any]]:
    """(status code, body) of the transfer API's public verification of one letter."""
    config = settings()
    # The console's own service token (client credentials in production), so the transfer API
    # believes the X-Forwarded-For it passes on and limits each phone, not the console.
    headers = {**_credentials(config).header(), "X-Forwarded-For": client_address}
    try:
        response = requests.get(
            f"{config.url_of('transfer')}/api/v1/letters/{quote(number, safe='')}",
            params={"code": code},
            headers=headers,
            timeout=TIMEOUT,
        )
    except requests.RequestException:
        return 503, {}
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


@blueprint.get("/verify")
def verify() -> Page:
    number = (request.args.get("n") or "").strip()[:80]
    code = (request.args.get("c") or "").strip()[:64]
    if not number or not code:
        return render_template("verify.html", verdict=NOT_FOUND, status="not_found", letter=None), 404
    status, body = check_letter(number, code, request.remote_addr or "unknown")
    if status == 200 and body.get("status") in VERDICTS:
        return render_template(
            "verify.html", verdict=VERDICTS[body["status"]], status=body["status"], letter=body
        )
    if status == 429:
        return render_template("verify.html", verdict=TOO_MANY, status="too_many", letter=None), 429
    if status in (404, 422):
        return render_template("verify.html", verdict=NOT_FOUND, status="not_found", letter=None), 404
    return render_template("verify.html", verdict=UNAVAILABLE, status="unavailable", letter=None), 503


def pdf_passthrough(path: str, filename: str) -> Page:
    try:
        chunks, content_type = api().stream(path)
    except ApiError as error:
        if error.status == 409:
            return render_template("error.html", message=error.message), 409
        raise
    return Response(
        chunks,
        content_type=content_type,
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"},
    )


@blueprint.get("/transfers/<transfer_id>/letter.pdf")
@signed_in()
def letter_pdf(transfer_id: str) -> Page:
    """打印介绍信: the three-part letter, opened in the browser's PDF viewer to print on A4."""
    return pdf_passthrough(api_path("/api/v1/transfers/{}/letter.pdf", transfer_id), f"letter-{transfer_id}.pdf")


@blueprint.get("/members/<member_id>/activity-card.pdf")
@signed_in()
def activity_card_pdf(member_id: str) -> Page:
    """打印流动党员活动证."""
    return pdf_passthrough(api_path("/api/v1/members/{}/activity-card.pdf", member_id), f"activity-card-{member_id}.pdf")
