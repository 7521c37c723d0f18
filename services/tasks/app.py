"""The tasks service's application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.tasks import api
from services.tasks.clients import OrgDirectory, registration_client
from services.tasks.models import audit_log, idempotency_keys
from services.tasks.settings import TasksSettings
from services.tasks.unit_of_work import TasksDeps
from shared.db import Database, database_of
from shared.settings import Settings
from shared.web import ServiceContext, create_service_app
from shared.web.audit import audit_blueprint

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def open_database(settings: Settings) -> Database:
    # Claims arrive in bursts: a pool big enough for every gunicorn thread of the process.
    return database_of(settings, "tasks")


def create_app(settings: TasksSettings | None = None) -> Flask:
    settings = settings or TasksSettings.from_env()
    database = open_database(settings)
    registration = registration_client(settings)
    service_context = ServiceContext(settings=settings, database=database, idempotency=idempotency_keys)
    service_context.extras["tasks"] = TasksDeps(
        database=database,
        orgs=OrgDirectory(registration),
        registration=registration,
        max_led_open_tasks=settings.max_led_open_tasks,
    )
    return create_service_app(
        service_context,
        title="nuanliu tasks",
        blueprints=[api.tasks, api.points, api.stats, audit_blueprint(audit_log)],
        description="Adopted tasks: publish, claim, assign, progress, complete, evaluate, points.",
    )
