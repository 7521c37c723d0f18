"""gunicorn settings shared by the four APIs (and the console).

gthread workers: the Temporal gateway and pika connections are made lazily per process,
after the fork, so nothing is preloaded that must not cross it.
"""

import os

workers = int(os.environ.get("NUANLIU_WEB_WORKERS", "2"))
threads = int(os.environ.get("NUANLIU_WEB_THREADS", "8"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 10
keepalive = 5
preload_app = False
accesslog = None
errorlog = "-"
loglevel = os.environ.get("NUANLIU_GUNICORN_LOGLEVEL", "warning")
max_requests = 0
backlog = 2048
