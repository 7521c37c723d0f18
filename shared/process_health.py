"""A small health and metrics port for the background processes (relays, consumer, dispatcher,
workers), which serve no HTTP of their own: `GET /healthz` for the liveness probe and
`GET /metrics` for Prometheus, on `NUANLIU_HEALTH_PORT` when it is set."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shared.metrics import CONTENT_TYPE, exposition

log = logging.getLogger(__name__)


def serve_health(
    name: str, alive: Callable[[], bool] = lambda: True, port: int | None = None, host: str | None = None
) -> ThreadingHTTPServer | None:
    """Serve /healthz and /metrics on a daemon thread; None when no port is configured."""
    if port is None:
        configured = os.environ.get("NUANLIU_HEALTH_PORT")
        if not configured:
            return None
        port = int(configured)
    bind = host or os.environ.get("NUANLIU_HEALTH_HOST", "0.0.0.0")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
            if self.path == "/healthz":
                ok = alive()
                self._answer(200 if ok else 503, "application/json", _health_body(name, ok))
            elif self.path == "/metrics":
                self._answer(200, CONTENT_TYPE, exposition())
            else:
                self._answer(404, "application/json", b'{"message": "not found"}')

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # probes every few seconds would drown the process's own log

    server = ThreadingHTTPServer((bind, port), Handler)
    threading.Thread(target=server.serve_forever, name=f"{name}-health", daemon=True).start()
    log.info("health and metrics port open", extra={"port": server.server_address[1]})
    return server


def _health_body(name: str, ok: bool) -> bytes:
    return json.dumps({"status": "ok" if ok else "unhealthy", "process": name}).encode()
