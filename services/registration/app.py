"""The registration service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.registration import activity_card, api, api_stations
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
    return create_service_app(
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
        ],
    )
