"""The registration service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from services.registration import activity_card, api, api_stations
from services.registration.identity import api as identity_api
from services.registration.identity.keys import keyring_from_settings
from services.registration.models import idempotency_keys
from services.registration.settings import RegistrationSettings
from shared.db import Database, database_of
from shared.settings import Settings
from shared.web import ServiceContext, create_service_app

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
            activity_card.activity_cards,  # issue 20 hook: the activity card PDF
            identity_api.staff,
            identity_api.token_service,
        ],
    )
    identity_api.init_jwks(app)
    init_rate_limits(app, settings)
    return app


def init_rate_limits(app: Flask, settings: RegistrationSettings) -> None:
    """Flask-Limiter on the endpoints that take secrets (tokens, SMS codes): per client address,
    in memory in development and in Redis (or another shared store) in production."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.ratelimit_storage or "memory://",
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix="nuanliu-registration",
    )
    limiter.limit(settings.auth_rate_limit)(identity_api.token_service)
    app.extensions["nuanliu"].extras["limiter"] = limiter
