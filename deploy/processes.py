"""The processes of the system, as the operators' command line and the dev launcher start them.

Both `deploy/cli.py` (one process per command) and `deploy/launcher.py` (the whole development
stack) build on these; neither imports the other.
"""

from __future__ import annotations

import importlib
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType, ModuleType

from sqlalchemy import text

from shared.db import Database, migrate
from shared.logging import configure_logging
from shared.process_health import serve_health
from shared.settings import SERVICES, Settings
from shared.tracing import init_process_tracing

# The services with an outbox to relay, and those with an event consumer.
PUBLISHERS = ("registration", "transfer", "tasks")
CONSUMERS = ("notify",)
# The module whose `main(settings)` runs a service's background worker: Temporal workers, and
# notify's delivery dispatcher.
WORKER_MODULES = {"notify": "dispatcher_process"}


def service_module(service: str, module: str) -> ModuleType:
    """A module of a service by name (`app`, `models`, `worker`, ...)."""
    return importlib.import_module(f"services.{service}.{module}")


def settings_of(service: str, environ: Mapping[str, str] | None = None, *, check: bool = True) -> Settings:
    """A service's settings, with its own knobs (`services/<name>/settings.py`); the shared ones
    for a process that is no service's (the console, the launcher)."""
    if service not in SERVICES:
        return Settings.from_env(service, environ, check=check)
    own: type[Settings] = next(
        value
        for value in vars(service_module(service, "settings")).values()
        if isinstance(value, type) and issubclass(value, Settings) and service == value.SERVICE
    )
    return own.from_env(service, environ, check=check)


# Held while migrating on PostgreSQL, so that two migrate runs (a Job retried, two rollouts)
# never run Alembic at once on one database: the second waits, then finds nothing to do.
MIGRATE_LOCK_KEY = 0x6E75616E6C6975  # "nuanliu"


def migrate_services(services: Iterable[str] = SERVICES, report: Callable[[str], None] = print) -> None:
    """Bring each service's database to its newest schema, under an advisory lock on PostgreSQL."""
    for service in services:
        app_module = service_module(service, "app")
        # Only the database: the migrate Job gets no other secret, so production's refusal of
        # development defaults (signing keys, client secrets, the broker...) is the processes' job.
        database = app_module.open_database(settings_of(service, check=False))
        try:
            with _migration_lock(database):
                migrate(database, app_module.MIGRATIONS)
        finally:
            database.dispose()
        report(f"migrated {service}")


@contextmanager
def _migration_lock(database: Database) -> Iterator[None]:
    if database.is_sqlite:
        yield  # SQLite's own write lock serialises migrations
        return
    # A session lock on a connection of its own, apart from the one Alembic uses.
    with database.engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK_KEY})
            connection.commit()


def stop_on_signals(stop: Callable[[], None]) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _observe_process(process: str) -> None:
    """JSON logs naming the process, and traces when the `OTEL_*` variables ask for them (the
    APIs set up theirs in `create_service_app`)."""
    configure_logging(process)
    init_process_tracing(process)


def run_relay(service: str) -> None:
    """One service's outbox relay, until SIGTERM or SIGINT."""
    from shared.bus import Publisher, Topology
    from shared.relay import Relay

    settings = settings_of(service)
    _observe_process(f"{service}-relay")
    database = service_module(service, "app").open_database(settings)
    outbox = service_module(service, "models").outbox
    relay = Relay(
        database,
        outbox,
        Publisher(settings.amqp_url, Topology(settings.broker_prefix)),
        batch_size=settings.relay_batch_size,
    )
    stop_on_signals(relay.stop)
    serve_health(f"{service}-relay", relay.alive)
    relay.run_forever(settings.relay_poll_interval, settings.relay_batch_wait)


def run_consumer(consumer: str) -> None:
    """An event consumer, until SIGTERM or SIGINT."""
    consumer_module = service_module(consumer, "consumer")
    _observe_process(f"{consumer}-consumer")
    running = consumer_module.build_consumer(settings_of(consumer))
    stop_on_signals(running.stop)
    serve_health(f"{consumer}-consumer", running.alive)
    running.run_forever()


def run_worker(service: str) -> None:
    """A service's Temporal worker (or notify's dispatcher)."""
    _observe_process(f"{service}-worker")
    serve_health(f"{service}-worker")
    service_module(service, WORKER_MODULES.get(service, "worker")).main(settings_of(service))
