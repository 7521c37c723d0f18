"""Endpoints of the introduction letter (issue 20): its PDF, and its public verification.

`install(app, ...)` is the one hook in the application factory: it registers both blueprints,
puts the letter dependencies in the service context, and sets the verification's rate limit
(`NUANLIU_LETTER_VERIFY_RATE` per client address, counted by the service's limiter in
shared.web.limits: memory per process unless `NUANLIU_RATELIMIT_STORAGE` names a shared store).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, current_app, request
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from services.transfer import letters
from services.transfer.clients import Registration
from services.transfer.letter_codes import LetterCodes
from shared.auth import Principal
from shared.db import Database
from shared.errors import NuanliuError
from shared.settings import Settings
from shared.web import Blueprint, authenticated, bearer_principal, context
from shared.web.limits import limiter

PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}

RATE_ENV = "NUANLIU_LETTER_VERIFY_RATE"
DEFAULT_RATE = "30/minute"

letter_files = Blueprint(
    "transfer_letters", __name__, url_prefix="/api/v1/transfers", description="Introduction letters as PDF"
)
verification = Blueprint(
    "letters", __name__, url_prefix="/api/v1/letters", description="Public verification of letters"
)


class VerifyQuery(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))


class VerificationSchema(Schema):
    number = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["valid", "used", "expired", "superseded", "cancelled"])
    )
    issued_on = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    issuing_org_name = fields.String(required=True)
    receiving_org_name = fields.String(required=True)
    member_name_masked = fields.String(required=True)


def deps() -> letters.LetterDeps:
    return context().extras["letters"]


@letter_files.route("/<string:transfer_id>/letter.pdf")
class LetterPdf(MethodView):
    @authenticated()
    @letter_files.response(200, description="A4 PDF: 存根, 介绍信 and 回执 with cut lines")
    @letter_files.doc(
        responses={"200": {"description": "A4 PDF: 存根, 介绍信 and 回执 with cut lines", "content": PDF}}
    )
    @letter_files.alt_response(409, response="DEFAULT_ERROR")
    def get(self, transfer_id: str, principal: Principal) -> Response:
        """The three-part introduction letter (the member, both branches' secretaries, the orgs
        above either). The read is audited."""
        number, pdf = letters.letter_pdf(deps(), principal, transfer_id)
        response = Response(pdf, mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'inline; filename="letter-{number}.pdf"'
        response.headers["Cache-Control"] = "no-store"  # full particulars: no shared cache keeps it
        return response


@verification.route("/<string:number>")
class LetterVerification(MethodView):
    @verification.arguments(VerifyQuery, location="query", unknown=RAISE)
    @verification.response(200, VerificationSchema)
    @verification.alt_response(404, response="DEFAULT_ERROR")
    @verification.alt_response(429, response="DEFAULT_ERROR")
    @verification.doc(security=[])
    def get(self, query: dict[str, Any], number: str) -> dict[str, Any]:
        """Verify a letter from its QR (no sign-in): status, validity, org names, masked name."""
        with limiter.limit(lambda: current_app.config["LETTER_VERIFY_RATE"], key_func=client_key):
            return letters.verify(deps(), number, query["code"])


def client_key() -> str:
    """Per client address. The console verifies for phones that open its page: it forwards the
    phone's address with its service token, and only then is X-Forwarded-For believed."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    if forwarded:
        try:
            principal = bearer_principal()
        except NuanliuError:  # a bad token only means the header is not believed
            principal = None
        if principal is not None and principal.is_service:
            return f"fwd:{forwarded[:64]}"
    return request.remote_addr or "unknown"


def install(app: Flask, settings: Settings, database: Database, registration: Registration) -> None:
    """The transfer app's hook: blueprints, dependencies and the rate limiter."""
    app.extensions["nuanliu"].extras["letters"] = letters.LetterDeps(
        database, registration, LetterCodes.from_settings(settings)
    )
    # Counted by the service's limiter (shared.web.limits: its store, and this process's memory
    # while a shared store is away, so that verification does not go down with it).
    app.config["LETTER_VERIFY_RATE"] = os.environ.get(RATE_ENV, DEFAULT_RATE)
    api = app.extensions["smorest_api"]
    api.register_blueprint(letter_files)
    api.register_blueprint(verification)


def verification_url_of(letter: dict[str, Any]) -> str | None:
    """`letter.verification_url` in the transfer view (schemas.LetterSchema's hook)."""
    try:
        codes = deps().codes
    except (KeyError, RuntimeError):  # outside a request of the transfer app
        return None
    return codes.verification_url(letter["number"])
