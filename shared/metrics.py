"""Every Prometheus metric the system's own code exports, defined once.

Under gunicorn the metrics are kept in multiprocess mode (PROMETHEUS_MULTIPROC_DIR): each worker
writes its samples to files and a scrape sums them, so a scrape no longer reads one worker's
registry at random (which made counters jump and `rate()` see resets). Gauges say how they
combine across processes (`multiprocess_mode`).

The dashboards and alert rules in `deploy/observability/` use these names; a test checks that
they name no metric this module does not define (or that the Temporal SDK does not export).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --- HTTP (every API and the console) --------------------------------------------------------
HTTP_REQUESTS = Counter(
    "nuanliu_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "nuanliu_http_request_seconds", "HTTP request latency", ["service", "method", "endpoint"]
)
_HTTP_SERIES_KEPT = 4096  # (service, method, route, status) series a process keeps at hand
_http_series: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}


def observe_request(service: str, method: str, endpoint: str, status: str, seconds: float) -> None:
    """Count a request and its latency. The two series are kept at hand: `labels()` checks the
    values and takes the metric's lock on every call, for series that seldom change."""
    key = (service, method, endpoint, status)
    series = _http_series.get(key)
    if series is None:
        if len(_http_series) >= _HTTP_SERIES_KEPT:
            _http_series.clear()
        series = _http_series[key] = (HTTP_REQUESTS.labels(*key), HTTP_LATENCY.labels(service, method, endpoint))
    series[0].inc()
    series[1].observe(seconds)

# --- the outbox and its relays -------------------------------------------------------------------
OUTBOX_PENDING = Gauge(
    "nuanliu_outbox_pending", "Outbox rows not yet published", ["service"], multiprocess_mode="max"
)
OUTBOX_OLDEST_AGE = Gauge(
    "nuanliu_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none)",
    ["service"],
    multiprocess_mode="max",
)
RELAY_PUBLISHED = Counter("nuanliu_relay_published_total", "Events published and confirmed", ["service"])
RELAY_FAILED = Counter(
    "nuanliu_relay_failed_total", "Events whose publication failed (retried later)", ["service"]
)
RELAY_CONFIRM_SECONDS = Histogram(
    "nuanliu_relay_confirm_seconds", "Time to publish a batch and collect its confirms", ["service"]
)

# --- consumers -------------------------------------------------------------------------------------
CONSUMER_HANDLED = Counter(
    "nuanliu_consumer_handled_total", "Events handled and acknowledged", ["consumer", "event_type"]
)
CONSUMER_DUPLICATES = Counter(
    "nuanliu_consumer_duplicates_total", "Redelivered events the inbox recognised", ["consumer"]
)
CONSUMER_DEAD_LETTERED = Counter(
    "nuanliu_consumer_dead_lettered_total", "Events sent to the dead-letter queue", ["consumer"]
)
CONSUMER_HANDLER_SECONDS = Histogram(
    "nuanliu_consumer_handler_seconds", "Time to handle one batch of events", ["consumer"]
)
DEAD_LETTER_DEPTH = Gauge(
    "nuanliu_dead_letter_messages",
    "Messages waiting in a consumer's dead-letter queue",
    ["consumer"],
    multiprocess_mode="max",
)

# --- notify's deliveries -------------------------------------------------------------------------------
DELIVERIES = Counter(
    "nuanliu_deliveries_total", "Delivery attempts by channel and outcome", ["channel", "state"]
)

# --- schedules and sweeps ----------------------------------------------------------------------------
SCHEDULE_RUNS = Counter(
    "nuanliu_schedule_runs_total", "Runs of scheduled sweeps and digests", ["schedule", "outcome"]
)

# --- transfers (the projection, read when scraped) ----------------------------------------------
TRANSFERS_OPEN = Gauge(
    "nuanliu_transfers_open", "Open transfers by status", ["status"], multiprocess_mode="max"
)
TRANSFER_STAGES_OVERDUE = Gauge(
    "nuanliu_transfer_stages_overdue", "Open transfers whose current stage is overdue", multiprocess_mode="max"
)


def exposition() -> bytes:
    """The Prometheus text of this process, or of every worker process under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


@contextmanager
def schedule_run(schedule: str) -> Iterator[None]:
    """Count one run of a scheduled sweep or digest, by how it ended."""
    try:
        yield
    except BaseException:
        SCHEDULE_RUNS.labels(schedule, "failed").inc()
        raise
    SCHEDULE_RUNS.labels(schedule, "succeeded").inc()
