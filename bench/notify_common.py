"""Shared parts of the notify benchmarks: throwaway databases and broker names, the real
pipeline (outbox → relay → RabbitMQ → batched notify consumer), and a raw pika baseline."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pika
from sqlalchemy import create_engine, func, select, text

from services.notify import consumer as notify_consumer
from services.notify.app import MIGRATIONS as NOTIFY_MIGRATIONS
from services.notify.models import Notification
from services.notify.settings import NotifySettings
from services.registration.app import MIGRATIONS as REGISTRATION_MIGRATIONS
from services.registration.models import outbox as registration_outbox
from shared.bus import Consumer, Publisher, Topology, connect
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.db import Database, drop_database, migrate, new_id, service_database
from shared.events import Envelope
from shared.relay import Relay
from shared.settings import Settings, normalise_postgres_url

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def checkin(branch: str) -> dict[str, object]:
    # One recipient per event (no home branch): one notification per event.
    return {
        "checkin_id": new_id(),
        "member_id": new_id(),
        "member_name": "王芳",
        "branch_code": branch,
        "kind": "self",
        "occurred_at": "2026-11-01T08:00:00+00:00",
    }


@dataclass
class Databases:
    registration: Database
    notify: Database
    kind: str


@contextmanager
def databases(postgres_admin_url: str | None) -> Iterator[Databases]:
    """Fresh, migrated registration and notify databases: SQLite files, or a new PostgreSQL database."""
    tmp = Path(tempfile.mkdtemp(prefix="nuanliu-bench-"))
    pg_name = None
    admin = normalise_postgres_url(postgres_admin_url) if postgres_admin_url else None
    if admin:
        pg_name = f"nuanliu_bench_{secrets.token_hex(4)}"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{pg_name}"'))
        engine.dispose()
        url = admin.rsplit("/", 1)[0] + f"/{pg_name}"
        registration = service_database(url, "registration", pool_size=10)
        notify = service_database(url, "notify", pool_size=10)
    else:
        registration = service_database(f"sqlite:///{tmp / 'registration.db'}", "registration")
        notify = service_database(f"sqlite:///{tmp / 'notify.db'}", "notify")
    migrate(registration, REGISTRATION_MIGRATIONS)
    migrate(notify, NOTIFY_MIGRATIONS)
    try:
        yield Databases(registration, notify, "postgresql" if admin else "sqlite")
    finally:
        registration.dispose()
        notify.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if admin and pg_name:
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            drop_database(engine, pg_name)
            engine.dispose()


def delete_topology(prefix: str, queues: list[str]) -> None:
    connection = connect(AMQP_URL)
    try:
        topology = Topology(prefix)
        for name in queues:
            channel = connection.channel()
            channel.queue_delete(name)
        for exchange in (topology.exchange, topology.dead_letter_exchange):
            connection.channel().exchange_delete(exchange)
    finally:
        connection.close()


def notifications_stored(database: Database, branch: str) -> int:
    with database.reader() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Notification).where(Notification.recipient == branch)
            )
            or 0
        )


class Pipeline:
    """The production path: registration's outbox relay and the batched notify consumer."""

    def __init__(
        self,
        dbs: Databases,
        prefix: str,
        batch: int = Settings.relay_batch_size,
        prefetch: int = NotifySettings.consumer_prefetch,
        on_stored: Callable[[list[Envelope]], None] | None = None,
    ) -> None:
        self.dbs = dbs
        self.topology = Topology(prefix)
        self.relay = Relay(
            dbs.registration, registration_outbox, Publisher(AMQP_URL, self.topology), batch_size=batch
        )
        self.consumer = Consumer(
            AMQP_URL,
            self.topology,
            name="notify",
            bindings=["#"],
            handler=lambda envelope: self._store([envelope]),
            batch_handler=lambda envelopes: self._store(envelopes),
            prefetch=prefetch,
        )
        self._threads: list[threading.Thread] = []
        self._on_stored = on_stored

    def _store(self, envelopes: list[Envelope]) -> None:
        notify_consumer.handle_events(self.dbs.notify, envelopes)
        if self._on_stored:
            self._on_stored(envelopes)  # after the commit: the notifications are readable now

    def start(self, poll_interval: float) -> None:
        consumer_thread = threading.Thread(target=self.consumer.run_forever, daemon=True)
        consumer_thread.start()
        if not self.consumer.ready.wait(15):
            raise RuntimeError("the consumer did not connect")
        relay_thread = threading.Thread(target=self.relay.run_forever, args=(poll_interval,), daemon=True)
        relay_thread.start()
        self._threads = [consumer_thread, relay_thread]

    def stop(self) -> None:
        self.relay.stop()
        self.consumer.stop()
        for thread in self._threads:
            thread.join(15)
        delete_topology(
            str(self.topology.prefix),
            [self.topology.queue("notify"), self.topology.dead_letter_queue("notify")],
        )


def add_outbox_rows(database: Database, branch: str, count: int, per_transaction: int = 500) -> None:
    for start in range(0, count, per_transaction):
        with database.transaction() as session:
            for _ in range(min(per_transaction, count - start)):
                registration_outbox.add(session, MEMBER_CHECKED_IN, "bench", checkin(branch))


@dataclass
class ConfirmState:
    published: int = 0
    outstanding: set[int] = field(default_factory=set)


class RawPika:
    """The baseline: the same bodies through a quorum queue with plain pika, confirms collected
    asynchronously (a window of outstanding publishes) and one manual ack per message."""

    def __init__(self, prefix: str, prefetch: int = 500) -> None:
        self.prefix = prefix
        self.queue = f"{prefix}raw-baseline"
        self.prefetch = prefetch
        self.exchange = f"{prefix}raw.events"
        connection = connect(AMQP_URL)
        channel = connection.channel()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(self.queue, self.exchange, routing_key="#")
        connection.close()
        self.received = 0
        self.receive_times: dict[str, float] = {}
        self._stop = threading.Event()
        self.ready = threading.Event()

    def consume_forever(self, record_times: bool = False) -> None:
        connection = connect(AMQP_URL)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=self.prefetch)

        def on_message(
            ch: object, method: pika.spec.Basic.Deliver, properties: pika.BasicProperties, body: bytes
        ) -> None:
            if record_times:
                self.receive_times[str(properties.message_id)] = time.time()
            channel.basic_ack(method.delivery_tag)
            self.received += 1

        channel.basic_consume(self.queue, on_message_callback=on_message, auto_ack=False)
        self.ready.set()
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.05)
        connection.close()

    def publisher(self) -> tuple[pika.BlockingConnection, object, ConfirmState]:
        """A connection whose channel is in confirm mode with asynchronous confirm counting."""
        connection = connect(AMQP_URL)
        channel = connection.channel()
        state = ConfirmState()

        def on_confirm(frame: pika.frame.Method) -> None:
            # With `multiple`, one frame confirms every message up to its tag.
            tag = frame.method.delivery_tag
            if frame.method.multiple:
                state.outstanding = {t for t in state.outstanding if t > tag}
            else:
                state.outstanding.discard(tag)

        selected: list[bool] = []
        channel._impl.confirm_delivery(
            ack_nack_callback=on_confirm, callback=lambda _f: selected.append(True)
        )  # noqa: SLF001
        while not selected:
            connection.process_data_events(time_limit=0.01)
        return connection, channel, state

    def publish(self, channel: object, state: ConfirmState, body: bytes, message_id: str) -> None:
        state.published += 1
        state.outstanding.add(state.published)
        channel.basic_publish(  # type: ignore[attr-defined]
            self.exchange,
            routing_key=MEMBER_CHECKED_IN,
            body=body,
            properties=pika.BasicProperties(
                content_type="application/cloudevents+json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=message_id,
            ),
            mandatory=True,
        )

    def stop(self) -> None:
        self._stop.set()

    def delete(self) -> None:
        connection = connect(AMQP_URL)
        connection.channel().queue_delete(self.queue)
        connection.channel().exchange_delete(self.exchange)
        connection.close()
