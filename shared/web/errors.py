"""Every error as JSON in flask-smorest's shape, naming the field and where it was sent."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from shared.errors import NuanliuError

log = logging.getLogger(__name__)


def error_body(status: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


def init_errors(app: Flask) -> None:
    """JSON answers for HTTP errors, domain errors, database errors and anything unexpected."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(NuanliuError, handle_domain_error)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)


def handle_http_exception(error: HTTPException) -> tuple[Response, int]:
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


def handle_domain_error(error: NuanliuError) -> tuple[Response, int]:
    errors = {error.location: {error.field: [error.message]}} if error.field else None
    response = jsonify(error_body(error.status, error.message, errors))
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response, error.status


def handle_database_error(error: DBAPIError) -> tuple[Response, int]:
    if isinstance(error, OperationalError) or error.connection_invalidated:
        log.warning("database unavailable: %s", type(error.orig).__name__)
        return jsonify(error_body(503, "the database is unavailable; try again shortly")), 503
    if isinstance(error, IntegrityError):
        log.warning("integrity conflict: %s", type(error.orig).__name__)
        return jsonify(error_body(409, "the change conflicts with existing data")), 409
    return handle_unexpected(error)


def handle_unexpected(error: Exception) -> tuple[Response, int]:
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


def refuse_nul_characters() -> tuple[Response, int] | None:
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
