"""The web base every service's application factory stands on.

It wires flask-smorest (OpenAPI at /openapi.json, docs at /docs), JSON errors in the shape of
docs/api.md, JWT authentication, Idempotency-Key handling, request and correlation ids, health,
readiness and Prometheus metrics.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from shared.auth import Principal, decode_token
from shared.bus import BrokerUnavailable, connect
from shared.db import Database
from shared.errors import NuanliuError, Unauthorized
from shared.idempotency import IdempotencyStore
from shared.logging import bind_ids, configure_logging
from shared.settings import Settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

REQUESTS = Counter(
    "nuanliu_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"]
)
LATENCY = Histogram("nuanliu_http_request_seconds", "HTTP request latency", ["service", "method", "endpoint"])


@dataclass
class ServiceContext:
    """What a service's views and use cases need, stored at `app.extensions["nuanliu"]`."""

    settings: Settings
    database: Database
    idempotency: Table | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _broker_checked_at: float = 0.0
    _broker_ok: bool = False

    def broker_reachable(self) -> bool:
        # Opening an AMQP connection per probe is costly; cache the answer for a few seconds.
        now = time.monotonic()
        if now - self._broker_checked_at > 5.0:
            try:
                connect(self.settings.amqp_url, timeout=2.0).close()
                self._broker_ok = True
            except BrokerUnavailable:
                self._broker_ok = False
            self._broker_checked_at = now
        return self._broker_ok


def context() -> ServiceContext:
    return current_app.extensions["nuanliu"]


def Blueprint(name: str, import_name: str, **kwargs: Any) -> SmorestBlueprint:  # noqa: N802
    return SmorestBlueprint(name, import_name, **kwargs)


# --- errors -------------------------------------------------------------------------------


def error_body(status: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


def _handle_http_exception(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    data = getattr(error, "data", {}) or {}
    messages = data.get("messages")
    message = data.get("message") or error.description or HTTPStatus(status).phrase
    if messages and status == 422:
        message = "validation failed: " + _summarise(messages)
    response = jsonify(error_body(status, message, messages))
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response, status


def _summarise(messages: dict[str, Any]) -> str:
    fields = [name for location in messages.values() if isinstance(location, dict) for name in location]
    return ", ".join(sorted(map(str, fields))) or "invalid request"


def _handle_domain_error(error: NuanliuError) -> tuple[Response, int]:
    errors = {error.location: {error.field: [error.message]}} if error.field else None
    response = jsonify(error_body(error.status, error.message, errors))
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response, error.status


def _handle_database_error(error: DBAPIError) -> tuple[Response, int]:
    if isinstance(error, OperationalError) or error.connection_invalidated:
        log.warning("database unavailable: %s", type(error.orig).__name__)
        return jsonify(error_body(503, "the database is unavailable; try again shortly")), 503
    if isinstance(error, IntegrityError):
        log.warning("integrity conflict: %s", type(error.orig).__name__)
        return jsonify(error_body(409, "the change conflicts with existing data")), 409
    return _handle_unexpected(error)


def _handle_unexpected(error: Exception) -> tuple[Response, int]:
    log.exception("unhandled error", exc_info=error)
    return jsonify(error_body(500, "internal error; it has been logged")), 500


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = _nul_in(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def _refuse_nul_characters() -> tuple[Response, int] | None:
    # PostgreSQL cannot store NUL in text and raises a DataError (a 500); refuse it up front.
    checks = (
        ("path", "path" if "\x00" in request.path else None),
        ("query", next((k for k, v in request.args.items(multi=True) if "\x00" in k + v), None)),
        ("json", _nul_in(request.get_json(silent=True), "") if request.is_json else None),
    )
    for location, name in checks:
        if name:
            message = "must not contain NUL characters"
            return jsonify(error_body(422, f"{name} {message}", {location: {name: [message]}})), 422
    return None


# --- authentication -----------------------------------------------------------------------


def bearer_principal() -> Principal | None:
    """The caller's principal, or None without an Authorization header. Cached per request."""
    if "principal" in g:
        return g.principal
    header = request.headers.get("Authorization", "")
    if not header:
        g.principal = None
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    g.principal = decode_token(token.strip(), context().settings.jwt_secret)
    return g.principal


def authenticated(*roles: str) -> Callable[[F], F]:
    """Require a valid token, and one of `roles` if given. The view gets `principal=`."""
    from shared.errors import Forbidden

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = bearer_principal()
            if principal is None:
                raise Unauthorized("missing bearer token")
            if roles and principal.role not in roles:
                raise Forbidden(f"role {principal.role} may not do this")
            return view(*args, principal=principal, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


# --- idempotency --------------------------------------------------------------------------


def _idempotency_before() -> Response | tuple[Response, int] | None:
    key = request.headers.get("Idempotency-Key")
    store: IdempotencyStore | None = current_app.extensions.get("nuanliu_idempotency")
    if request.method != "POST" or not key or store is None:
        return None
    if len(key) > 200:
        return jsonify(
            error_body(
                422,
                "Idempotency-Key is too long",
                {"headers": {"Idempotency-Key": ["at most 200 characters"]}},
            )
        ), 422
    try:
        principal = bearer_principal()
    except NuanliuError:
        return None  # the view answers 401
    owner = principal.sub if principal else "anonymous"
    outcome = store.begin(owner, key, _request_fingerprint())
    if outcome.replay is not None:
        status, body = outcome.replay
        response = current_app.response_class(body, status=status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if outcome.conflict:
        return jsonify(error_body(409, outcome.conflict)), 409
    g.idempotency = (owner, key)
    return None


def _request_fingerprint() -> str:
    """What makes two POSTs "the same request": path, query and body. An upload is fingerprinted
    by its fields and files, not its raw bytes: the multipart boundary differs on every retry."""
    digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\0")
    digest.update(urlencode(sorted(request.args.items(multi=True))).encode() + b"\0")
    if request.mimetype == "multipart/form-data":
        digest.update(urlencode(sorted(request.form.items(multi=True))).encode() + b"\0")
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            digest.update(f"{name}\0{upload.filename}\0".encode())
            digest.update(hashlib.sha256(upload.stream.read()).digest())
            upload.stream.seek(0)
    else:
        digest.update(request.get_data())
    return digest.hexdigest()


def _idempotency_after(response: Response) -> Response:
    pending = g.pop("idempotency", None)
    store: IdempotencyStore | None = current_app.extensions.get("nuanliu_idempotency")
    if pending and store:
        owner, key = pending
        if response.status_code >= 500:
            store.abandon(owner, key)  # let the client retry a server failure
        else:
            store.finish(owner, key, response.status_code, response.get_data())
    return response


# --- the factory --------------------------------------------------------------------------


def create_service_app(
    service_context: ServiceContext,
    title: str,
    blueprints: Iterable[SmorestBlueprint],
    description: str = "",
) -> Flask:
    settings = service_context.settings
    configure_logging(settings.service)
    app = Flask(settings.service, static_folder=str(_static_dir()), static_url_path="/static")
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
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
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["nuanliu"] = service_context
    if service_context.idempotency is not None:
        app.extensions["nuanliu_idempotency"] = IdempotencyStore(
            service_context.database, service_context.idempotency
        )

    api = Api(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.extensions["smorest_api"] = api

    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(NuanliuError, _handle_domain_error)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)

    @app.before_request
    def _start() -> Response | tuple[Response, int] | None:
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        bind_ids(request_id[:64], (request.headers.get("X-Correlation-ID") or request_id)[:64])
        g.started = time.perf_counter()
        refused = _refuse_nul_characters()
        if refused is not None:
            return refused
        try:
            return _idempotency_before()
        except NuanliuError as error:
            return _handle_domain_error(error)
        except DBAPIError as error:
            return _handle_database_error(error)

    @app.after_request
    def _finish(response: Response) -> Response:
        try:
            response = _idempotency_after(response)
        except DBAPIError:
            log.warning("could not record the idempotency outcome")
        from shared.logging import current_correlation_id, current_request_id

        response.headers["X-Request-ID"] = current_request_id() or ""
        response.headers["X-Correlation-ID"] = current_correlation_id() or ""
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(settings.service, request.method, endpoint, str(response.status_code)).inc()
        if "started" in g:
            LATENCY.labels(settings.service, request.method, endpoint).observe(
                time.perf_counter() - g.started
            )
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "service": settings.service})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        down: list[str] = []
        try:
            service_context.database.ping()
        except DBAPIError:
            down.append("database")
        if not service_context.broker_reachable():
            down.append("broker")
        for name, probe in service_context.extras.get("readiness", {}).items():
            if not probe():
                down.append(name)
        if down:
            return jsonify(
                {"status": "unavailable", "down": down, "message": f"down: {', '.join(down)}"}
            ), 503
        return jsonify({"status": "ready", "service": settings.service}), 200

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return app


def _static_dir() -> Path:
    return Path(__file__).resolve().parent / "static"
