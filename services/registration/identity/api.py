"""HTTP endpoints of identity: the staff directory, the token service, SMS codes, the JWKS."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.views import MethodView
from flask_smorest import abort

from services.registration.commands import staff as staff_commands
from services.registration.identity import otp, queries, schemas, tokens
from services.registration.identity.keys import KeyRing
from services.registration.settings import RegistrationSettings
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared.auth import Principal
from shared.errors import InvalidInput
from shared.web import Blueprint, authenticated, context

staff = Blueprint("staff", __name__, url_prefix="/api/v1/orgs", description="The staff directory")
token_service = Blueprint("tokens", __name__, url_prefix="/api/v1", description="Tokens and SMS codes")


def _settings() -> RegistrationSettings:
    settings = context().settings
    assert isinstance(settings, RegistrationSettings), "the registration app runs on its settings"
    return settings


def keyring() -> KeyRing:
    ring: KeyRing = context().extras["keyring"]
    return ring


@staff.route("/<string:code>/staff")
class Staff(MethodView):
    @authenticated("org_department", "admin")
    @staff.response(200, schemas.StaffListSchema)
    def get(self, code: str, principal: Principal) -> dict[str, Any]:
        """Who holds which role in the org (an org department above it, or an admin)."""
        return queries.list_staff(context().database, principal, code)

    @authenticated("org_department", "admin")
    @staff.arguments(schemas.StaffCreateSchema)
    @staff.response(201, schemas.StaffSchema)
    def post(self, body: dict[str, Any], code: str, principal: Principal) -> Any:
        """Assign a person (their `sub` at the OpenID provider) a role fitting the org's level."""
        command = staff_commands.AssignStaff(org_code=code, **body)
        return staff_commands.assign_staff(RegistrationUnitOfWork(context().database), principal, command)


@staff.route("/<string:code>/staff/<string:staff_id>")
class StaffById(MethodView):
    @authenticated("org_department", "admin")
    @staff.response(204)
    def delete(self, code: str, staff_id: str, principal: Principal) -> None:
        """Remove a role assignment."""
        command = staff_commands.RemoveStaff(org_code=code, staff_id=staff_id)
        staff_commands.remove_staff(RegistrationUnitOfWork(context().database), principal, command)


def _required(body: dict[str, Any], *names: str) -> list[str]:
    for name in names:
        if not body.get(name):
            raise InvalidInput(f"{name} is required for grant_type {body['grant_type']}", field=name)
    return [body[name] for name in names]


@token_service.route("/tokens")
class Tokens(MethodView):
    @token_service.arguments(schemas.TokenRequestSchema)
    @token_service.response(200, schemas.TokenSchema)
    @token_service.doc(security=[])
    def post(self, body: dict[str, Any]) -> Any:
        """Issue an RS256 access token: token exchange of an OpenID ID token, an SMS code, or
        client credentials."""
        settings, database = _settings(), context().database
        grant_type = body["grant_type"]
        roles: list[dict[str, str]] = []
        if grant_type == tokens.TOKEN_EXCHANGE:
            (subject_token, _) = _required(body, "subject_token", "subject_token_type")
            grant, roles = tokens.token_exchange(
                database, settings, subject_token, body.get("org"), body.get("role")
            )
        elif grant_type == "sms_otp":
            phone, code = _required(body, "phone", "code")
            grant = queries.member_grant(database, otp.redeem(database, settings, phone, code))
        else:
            client_id, client_secret = _required(body, "client_id", "client_secret")
            grant = tokens.client_credentials(settings, client_id, client_secret)
        issued = tokens.sign(keyring(), settings, grant)
        return {**issued.__dict__, "roles": roles}


@token_service.route("/otp")
class Otp(MethodView):
    @token_service.arguments(schemas.OtpRequestSchema)
    @token_service.response(202, schemas.OtpAcceptedSchema)
    @token_service.doc(security=[])
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Ask for an SMS sign-in code: 202 whether or not the phone is a member's."""
        try:
            otp.request_code(context().database, _settings(), body["phone"])
        except otp.RateLimited as limited:
            abort(
                429,
                message="too many codes asked for this phone",
                headers={"Retry-After": str(limited.retry_after)},
            )
        return {"status": "accepted"}


def jwks_document() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The public keys that verify nuanliu tokens (two during a rollover). A plain route, outside
    the OpenAPI document: it is the RFC 7517 format, not a part of the API."""
    return keyring().jwks(), 200, {"Cache-Control": "public, max-age=300"}


def init_jwks(app: Flask) -> None:
    app.add_url_rule("/.well-known/jwks.json", "jwks", jwks_document, methods=["GET"])
