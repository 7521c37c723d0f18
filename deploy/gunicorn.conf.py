"""gunicorn settings shared by the four APIs (and the console).

gthread workers: the Temporal gateway and pika connections are made lazily per process,
after the fork, so nothing is preloaded that must not cross it.

Metrics: each worker keeps its samples in files under PROMETHEUS_MULTIPROC_DIR and a scrape of
any worker sums them all (before, a scrape read one worker's registry, so counters jumped
between scrapes and `rate()` saw resets). The master makes a fresh directory at start, marks a
worker's files dead when it exits, and serves the sum on NUANLIU_METRICS_PORT when that is set.
"""

import os
import tempfile

workers = int(os.environ.get("NUANLIU_WEB_WORKERS", "2"))
threads = int(os.environ.get("NUANLIU_WEB_THREADS", "8"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 10
keepalive = 5
preload_app = False
# The application writes one JSON access line per request (route, status, duration, ids, caller);
# gunicorn's own would repeat it without the route template or the caller.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("NUANLIU_GUNICORN_LOGLEVEL", "warning")
max_requests = 0
# Files the process creates (SQLite databases, logs) are its own alone: 0600, directories 0700.
umask = 0o077
backlog = 2048

# Set before any worker forks (and before prometheus_client is imported anywhere), so every
# worker writes its samples where the others can read them.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nuanliu-metrics-")


def when_ready(server: object) -> None:
    port = os.environ.get("NUANLIU_METRICS_PORT")
    if port:
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(int(port), addr=os.environ.get("NUANLIU_METRICS_HOST", "0.0.0.0"), registry=registry)


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
