"""Every error as JSON in flask-smorest's shape, naming the field and where it was sent."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from shared.errors import NuanliuError

log = logging.getLogger(__name__)
security_log = logging.getLogger("nuanliu.security")


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
    if error.status in (401, 403):
        log_refusal(error.status, error.message)
    errors = {error.location: {error.field: [error.message]}} if error.field else None
    response = jsonify(error_body(error.status, error.message, errors))
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:  # a 429 says when to try again
        response.headers["Retry-After"] = str(retry_after)
    return response, error.status


def log_refusal(status: int, reason: str) -> None:
    """Every 401 and 403 as one JSON line: who (if known), which route, why, the request id
    (the JSON formatter adds it), so refused probing shows in the logs."""
    from flask import g

    principal = g.get("principal")
    security_log.warning(
        "refused",
        extra={
            "status": status,
            "reason": reason,
            "route": request.url_rule.rule if request.url_rule else request.path[:200],
            "method": request.method,
            "actor": principal.sub if principal is not None else None,
            "actor_role": principal.role if principal is not None else None,
        },
    )


def handle_database_error(error: DBAPIError) -> tuple[Response, int]:
    if isinstance(error, OperationalError) or error.connection_invalidated:
        log.warning("database unavailable: %s", type(error.orig).__name__)
        return jsonify(error_body(503, "the database is unavailable; try again shortly")), 503
    if isinstance(error, IntegrityError):
        log.warning("integrity conflict: %s", type(error.orig).__name__)
        return jsonify(error_body(409, "the change conflicts with existing data")), 409
    if isinstance(error, DataError):
        # A value the database cannot take for its column (out of range, malformed): the client's
        # input got past validation, so answer 422, not 500; the log names the kind, not the value.
        log.warning("value refused by the database: %s", type(error.orig).__name__)
        return jsonify(error_body(422, "a value is not valid for its field")), 422
    return handle_unexpected(error)


def handle_unexpected(error: Exception) -> tuple[Response, int]:
    log.exception("unhandled error", exc_info=error)
    return jsonify(error_body(500, "internal error; it has been logged")), 500


# Deeper JSON than any request of the contract needs; the parser recurses, so much deeper input
# would end in a RecursionError (a 500) instead of a clear refusal.
MAX_JSON_DEPTH = 32
# NUL (PostgreSQL cannot store it) and lone UTF-16 surrogates (no encoding can): neither is text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_in(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding a character no database can store, if any."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _UNSTORABLE.search(str(key)):
                return where
            found = _unstorable_in(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_in(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def _too_deep(body: bytes) -> bool:
    """Whether JSON nests deeper than MAX_JSON_DEPTH (brackets inside strings are not counted)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _refusal(location: str, name: str, message: str) -> tuple[Response, int]:
    return jsonify(error_body(422, f"{name} {message}", {location: {name: [message]}})), 422


def refuse_unstorable_input() -> tuple[Response, int] | None:
    """Refuse, before any view, input no view could handle: NUL or lone surrogates anywhere,
    and JSON nested past MAX_JSON_DEPTH."""
    if request.is_json and _too_deep(request.get_data(cache=True)):
        return _refusal("json", "_schema", f"nests deeper than {MAX_JSON_DEPTH} levels")
    body = request.get_json(silent=True) if request.is_json else None
    checks = (
        ("path", "path" if _UNSTORABLE.search(request.path) else None, request.path),
        *(("query", k, k + v) for k, v in request.args.items(multi=True) if _UNSTORABLE.search(k + v)),
        ("json", _unstorable_in(body, ""), None),
    )
    for location, name, text in checks:
        if name:
            return _refusal(location, name, _what_is_wrong(text if text is not None else _at(body, name)))
    return None


def _at(value: Any, path: str) -> str:
    """The string (or key) at a dotted path of a JSON value, for naming what is wrong with it."""
    for part in path.split(".") if path else []:
        if isinstance(value, dict):
            value = value.get(part, part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return part
    return str(value)


def _what_is_wrong(text: str) -> str:
    return "must not contain NUL characters" if "\x00" in text else "must not contain lone surrogates"
