"""JSON logs with request and correlation ids carried in context variables."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# One encoder for every line (`json.dumps` with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def current_request_id() -> str | None:
    return _request_id.get()


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def bind_ids(request_id: str | None, correlation_id: str | None) -> None:
    _request_id.set(request_id)
    _correlation_id.set(correlation_id)


def _utc_iso(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat()`, microseconds rounded as it rounds them
    but always six digits (it drops them when zero), with the date and time of day formatted once
    a second rather than on every line."""
    global _last_second
    seconds = int(created)
    micros = round((created - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    last = _last_second  # one read and one write of a pair: threads may format at once
    if last[0] != seconds:
        last = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{last[1]}.{micros:06d}+00:00"


_last_second: tuple[int, str] = (-1, "")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, naming the process's service on every line."""

    _skip = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id, correlation_id = _request_id.get(), _correlation_id.get()
        if request_id:
            entry["request_id"] = request_id
        if correlation_id:
            entry["correlation_id"] = correlation_id
        skip = self._skip
        for key, value in record.__dict__.items():
            if key not in skip and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def configure_logging(service: str, level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    # The JSON lines leave out where a line was logged from and which thread and process logged
    # it (`JsonFormatter._skip`): the logging module's documented switches spare every record
    # the work of finding out (a stack walk and three lookups, a fifth of an access line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root.handlers = [handler]
    root.setLevel(level)
    logging.getLogger("pika").setLevel(logging.WARNING)
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    logging.getLogger(service).setLevel(level)
