"""The application factory every service stands on: a few small extensions on one Flask app."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flask import Flask
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint

from shared import tracing
from shared.logging import configure_logging
from shared.web.context import ServiceContext
from shared.web.errors import init_errors
from shared.web.health import init_health
from shared.web.idempotency import init_idempotency
from shared.web.limits import init_limits
from shared.web.requests import init_request_lifecycle

# Uploads (member imports) are the largest requests.
MAX_CONTENT_LENGTH = 20 * 1024 * 1024


def create_service_app(
    service_context: ServiceContext,
    title: str,
    blueprints: Iterable[SmorestBlueprint],
    description: str = "",
) -> Flask:
    service = service_context.settings.service
    configure_logging(service)
    app = Flask(service, static_folder=str(_static_dir()), static_url_path="/static")
    app.config.update(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["nuanliu"] = service_context
    init_openapi(app, title, description, blueprints, public=service_context.settings.serves_docs)
    init_errors(app)
    init_idempotency(app, service_context)
    init_request_lifecycle(app, service, service_context.settings.request_telemetry)
    # After the request ids are bound, so that a refusal (429) carries them.
    init_limits(app, service_context.settings)
    init_health(app, service_context)
    # Spans for requests and statements when tracing is on (OTEL_* variables); nothing otherwise.
    tracing.init_tracing(service)
    tracing.instrument_app(app, service_context.database)
    return app


def init_openapi(
    app: Flask, title: str, description: str, blueprints: Iterable[SmorestBlueprint], public: bool = True
) -> None:
    """flask-smorest: the blueprints, the OpenAPI document at /openapi.json and the docs at /docs
    (`public`: NUANLIU_PUBLIC_DOCS, off by default in production, where they map the attack surface)."""
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/" if public else None,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/static/swagger-ui/",
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api = Api(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.extensions["smorest_api"] = api


def _static_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "static"
