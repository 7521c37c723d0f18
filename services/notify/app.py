"""The notify service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.notify import api
from services.notify.models import audit_log, idempotency_keys
from services.notify.settings import NotifySettings
from shared.db import Database, database_of
from shared.settings import Settings
from shared.web import ServiceContext, create_service_app
from shared.web.audit import audit_blueprint

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def open_database(settings: Settings) -> Database:
    return database_of(settings, "notify")


def create_app(settings: NotifySettings | None = None) -> Flask:
    settings = settings or NotifySettings.from_env()
    service_context = ServiceContext(
        settings=settings, database=open_database(settings), idempotency=idempotency_keys
    )
    return create_service_app(
        service_context,
        title="nuanliu notify",
        description="Notifications: the in-app inbox, preferences and deliveries.",
        blueprints=[
            api.notifications,
            api.preferences,
            api.deliveries,
            api.digests,
            audit_blueprint(audit_log),
        ],
    )
