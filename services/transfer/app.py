"""The transfer service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.transfer.models import audit_log, idempotency_keys
from services.transfer.settings import TransferSettings
from shared.db import Database, database_of
from shared.settings import Settings
from shared.web import ServiceContext, create_service_app
from shared.web.audit import audit_blueprint

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def open_database(settings: Settings) -> Database:
    return database_of(settings, "transfer")


def create_app(settings: TransferSettings | None = None) -> Flask:
    # Imported here: the worker imports open_database without the web and Temporal client parts.
    from services.transfer import api, queries
    from services.transfer.clients import Registration, TransferProcesses
    from services.transfer.unit_of_work import TransferDeps
    from shared.temporal import TemporalGateway, temporal_tls

    settings = settings or TransferSettings.from_env()
    database = open_database(settings)
    deps = TransferDeps(
        settings=settings,
        database=database,
        registration=Registration.from_settings(settings),
        processes=TransferProcesses(
            # Lazy: its event loop and client are made on first use, after gunicorn forks.
            TemporalGateway(settings.temporal_address, settings.temporal_namespace, temporal_tls(settings)),
            settings.temporal_task_queue,
            settings.transfer_proof_key,
        ),
    )
    service_context = ServiceContext(
        settings=settings,
        database=database,
        idempotency=idempotency_keys,
        extras={
            "transfer": deps,
            "readiness": {"temporal": deps.processes.reachable},
            "metrics_refresh": [lambda: queries.refresh_gauges(database)],
        },
    )
    app = create_service_app(
        service_context,
        title="nuanliu transfer",
        description="Relationship transfers driven by a Temporal workflow, with their projection.",
        blueprints=[api.transfers, api.stats, audit_blueprint(audit_log)],
    )
    # Issue 20 hook: the letter PDF and its public verification (services/transfer/letters_api.py).
    from services.transfer import letters_api

    letters_api.install(app, settings, database, deps.registration)
    return app
