"""Around every request: request and correlation ids, refusals before the view, the idempotency
store, and the request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy.exc import DBAPIError

from shared import metrics, tracing
from shared.errors import NuanliuError
from shared.logging import bind_ids, current_correlation_id, current_request_id
from shared.web.errors import handle_database_error, handle_domain_error, refuse_unstorable_input
from shared.web.idempotency import record_outcome, replay_or_begin

log = logging.getLogger(__name__)

# One JSON line per request (gunicorn's own access log stays off: it knows no route or caller).
access_log = logging.getLogger("nuanliu.access")


def init_request_lifecycle(app: Flask, service: str, telemetry: bool = True) -> None:
    # The ids are bound before anything else looks at the request: URL value preprocessors (which
    # check path ids, and may read the token) run before the before-request functions.
    app.url_value_preprocessor(_bind)
    app.before_request(_start)

    @app.after_request
    def _finish(response: Response) -> Response:
        try:
            response = record_outcome(response)
        except DBAPIError:
            log.warning("could not record the idempotency outcome")
        response.headers["X-Request-ID"] = current_request_id() or ""
        response.headers["X-Correlation-ID"] = current_correlation_id() or ""
        if telemetry:
            _observe(service, response)
        return response


def _bind(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    request_id = _client_id(request.headers.get("X-Request-ID")) or uuid.uuid4().hex
    bind_ids(request_id, _client_id(request.headers.get("X-Correlation-ID")) or request_id)
    g.started = time.perf_counter()


def _start() -> Response | tuple[Response, int] | None:
    refused = refuse_unstorable_input()
    if refused is not None:
        return refused
    try:
        return replay_or_begin()
    except NuanliuError as error:
        return handle_domain_error(error)
    except DBAPIError as error:
        return handle_database_error(error)


# A client's request or correlation id lands in logs and audit rows: only a plain token is kept.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _client_id(value: str | None) -> str | None:
    return value if value and _CLIENT_ID.fullmatch(value) else None


def _observe(service: str, response: Response) -> None:
    """The request's metrics and its access line: route template, never the path's ids, and the
    caller's `sub`, never a token or personal data."""
    current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup, not one per attribute
    rule = current.url_rule
    endpoint = rule.rule if rule else "unmatched"
    method = current.method
    seconds = time.perf_counter() - g.started if "started" in g else 0.0
    metrics.observe_request(service, method, endpoint, str(response.status_code), seconds)
    principal = g.get("principal")
    access_log.info(
        "request",
        extra={
            "method": method,
            "route": endpoint,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
            "sub": principal.sub if principal is not None else None,
            "trace_id": tracing.current_trace_id(),
        },
    )
