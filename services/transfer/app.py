"""The transfer service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.transfer.models import idempotency_keys
from shared.db import Database, service_database
from shared.settings import Settings
from shared.web import ServiceContext, create_service_app

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def open_database(settings: Settings) -> Database:
    return service_database(settings.database_url, "transfer")


def create_app(settings: Settings | None = None) -> Flask:
    # Imported here: the worker imports open_database without the web and Temporal client parts.
    from services.transfer import api
    from services.transfer.registration import Registration
    from services.transfer.service import TransferDeps
    from shared.temporal import TemporalGateway

    settings = settings or Settings.from_env("transfer")
    database = open_database(settings)
    deps = TransferDeps(
        settings=settings,
        database=database,
        registration=Registration.from_settings(settings),
        # Lazy: its event loop and client are made on first use, after gunicorn forks.
        temporal=TemporalGateway(settings.temporal_address, settings.temporal_namespace),
    )
    service_context = ServiceContext(
        settings=settings,
        database=database,
        idempotency=idempotency_keys,
        extras={"transfer": deps, "readiness": {"temporal": deps.temporal_reachable}},
    )
    app = create_service_app(
        service_context,
        title="nuanliu transfer",
        description="Relationship transfers driven by a Temporal workflow, with their projection.",
        blueprints=[api.transfers, api.stats],
    )
    # Issue 20 hook: the letter PDF and its public verification (services/transfer/letters_api.py).
    from services.transfer import letters_api

    letters_api.install(app, settings, database, deps.registration)
    return app
