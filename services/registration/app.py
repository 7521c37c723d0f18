"""The registration service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from services.registration import activity_card, api, api_course, api_stations
from services.registration.identity import api as identity_api
from services.registration.identity.keys import keyring_from_settings
from services.registration.models import audit_log, idempotency_keys
from services.registration.settings import RegistrationSettings
from shared.db import Database, database_of
from shared.settings import Settings
from shared.web import ServiceContext, create_service_app
from shared.web.audit import audit_blueprint
from shared.web.limits import client_address, limit_blueprint

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
AUTH_LIMIT_CONFIG = "NUANLIU_AUTH_RATE_LIMIT"


def _auth_limit() -> str:
    return str(current_app.config[AUTH_LIMIT_CONFIG])


# The endpoints that take secrets (tokens, SMS codes), per client address and endpoint, at the
# app's NUANLIU_AUTH_RATE_LIMIT; besides the write budget every write has (shared.web.limits).
limit_blueprint(identity_api.token_service, _auth_limit, key_func=client_address)


def open_database(settings: Settings) -> Database:
    return database_of(settings, "registration")


def create_app(settings: RegistrationSettings | None = None) -> Flask:
    settings = settings or RegistrationSettings.from_env()
    database = open_database(settings)
    service_context = ServiceContext(settings=settings, database=database, idempotency=idempotency_keys)
    keyring = keyring_from_settings(
        settings.environment,
        settings.signing_keys_dir,
        settings.signing_key,
        settings.signing_key_previous,
        settings.var_dir,
    )
    service_context.extras["keyring"] = keyring
    # Registration verifies its own tokens from its key ring, not over HTTP from itself.
    service_context.extras["public_key"] = keyring.public_key
    app = create_service_app(
        service_context,
        title="nuanliu registration",
        description="Orgs, members, outflows and inflows, check-ins, the ledger.",
        blueprints=[
            api.orgs,
            api.members,
            api.checkins,
            api.ledger,
            api.imports_blp,
            api_stations.stations,
            api_stations.station_stats,
            api_course.member_course,
            api_course.coverage_stats,
            activity_card.activity_cards,  # issue 20 hook: the activity card PDF
            identity_api.staff,
            identity_api.token_service,
            audit_blueprint(audit_log),
        ],
    )
    identity_api.init_jwks(app)
    app.config[AUTH_LIMIT_CONFIG] = settings.auth_rate_limit
    return app
