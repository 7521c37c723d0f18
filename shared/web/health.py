"""Liveness, readiness and metrics.

Readiness means "can serve": the database answers (and whatever a service adds, such as Temporal
for the transfer API). The broker is not part of it: the outbox holds events while the broker is
away and the API keeps answering, so a broker outage is reported in the body ("degraded") with
200. A 503 would take every API pod out of its Service at once, for nothing.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError

from shared.errors import Forbidden, Unauthorized
from shared.metrics import CONTENT_TYPE, exposition
from shared.web.auth import bearer_principal
from shared.web.context import ServiceContext


def init_health(app: Flask, service_context: ServiceContext) -> None:
    service = service_context.settings.service

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "service": service})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        down: list[str] = []
        try:
            service_context.database.ping()
        except DBAPIError:
            down.append("database")
        for name, probe in service_context.extras.get("readiness", {}).items():
            if not probe():
                down.append(name)
        broker = "ok" if service_context.broker_reachable() else "degraded"
        if down:
            body = {"status": "unavailable", "down": down, "broker": broker}
            return jsonify({**body, "message": f"down: {', '.join(down)}"}), 503
        return jsonify({"status": "ready", "service": service, "broker": broker}), 200

    @app.get("/metrics")
    def metrics() -> Response:
        if service_context.settings.is_production:
            _require_metrics_reader()
        # Gauges read from the service's own tables (e.g. open transfers) are set just before.
        for refresh in service_context.extras.get("metrics_refresh", ()):
            refresh()
        return Response(exposition(), content_type=CONTENT_TYPE)


def _require_metrics_reader() -> None:
    """In production the public port's /metrics is for an admin or a service token only: the
    scraper reads the gunicorn master's NUANLIU_METRICS_PORT, which is not published."""
    principal = bearer_principal()
    if principal is None:
        raise Unauthorized("missing bearer token")
    if principal.role not in ("admin", "service"):
        raise Forbidden(f"role {principal.role} may not read metrics")
