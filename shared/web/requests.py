"""Around every request: request and correlation ids, refusals before the view, the idempotency
store, and the request metrics."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import Counter, Histogram
from sqlalchemy.exc import DBAPIError

from shared.errors import NuanliuError
from shared.logging import bind_ids, current_correlation_id, current_request_id
from shared.web.errors import handle_database_error, handle_domain_error, refuse_nul_characters
from shared.web.idempotency import record_outcome, replay_or_begin

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "nuanliu_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"]
)
LATENCY = Histogram("nuanliu_http_request_seconds", "HTTP request latency", ["service", "method", "endpoint"])


def init_request_lifecycle(app: Flask, service: str) -> None:
    app.before_request(_start)

    @app.after_request
    def _finish(response: Response) -> Response:
        try:
            response = record_outcome(response)
        except DBAPIError:
            log.warning("could not record the idempotency outcome")
        response.headers["X-Request-ID"] = current_request_id() or ""
        response.headers["X-Correlation-ID"] = current_correlation_id() or ""
        _observe(service, response)
        return response


def _start() -> Response | tuple[Response, int] | None:
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    bind_ids(request_id[:64], (request.headers.get("X-Correlation-ID") or request_id)[:64])
    g.started = time.perf_counter()
    refused = refuse_nul_characters()
    if refused is not None:
        return refused
    try:
        return replay_or_begin()
    except NuanliuError as error:
        return handle_domain_error(error)
    except DBAPIError as error:
        return handle_database_error(error)


def _observe(service: str, response: Response) -> None:
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
    if "started" in g:
        LATENCY.labels(service, request.method, endpoint).observe(time.perf_counter() - g.started)
