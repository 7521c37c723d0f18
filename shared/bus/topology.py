"""Names on the broker, and a connection: the exchange, each consumer's quorum queue and its
dead-letter queue."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import pika
import pika.exceptions
import pika.frame
import pika.spec
from pika.adapters.blocking_connection import BlockingChannel

log = logging.getLogger(__name__)

EXCHANGE = "nuanliu.events"


class BrokerUnavailable(RuntimeError):
    """The broker cannot be reached or the connection broke."""


class TopologyMismatch(RuntimeError):
    """The broker holds a queue declared with other arguments (406 PRECONDITION_FAILED): no
    reconnect can fix it, so the process stops and says what to do."""


class Unroutable(RuntimeError):
    """The broker returned a mandatory message: no queue is bound for its type yet."""


@dataclass(frozen=True)
class Topology:
    """Names on the broker. A prefix lets tests and a running stack share one broker."""

    prefix: str = ""

    @property
    def exchange(self) -> str:
        return f"{self.prefix}{EXCHANGE}"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}{EXCHANGE}.dlx"

    def queue(self, consumer: str) -> str:
        return f"{self.prefix}{consumer}"

    def dead_letter_queue(self, consumer: str) -> str:
        return f"{self.prefix}{consumer}.dlq"

    def declare_exchanges(self, channel: BlockingChannel) -> None:
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.exchange_declare(self.dead_letter_exchange, exchange_type="direct", durable=True)

    def declare_consumer(
        self, channel: BlockingChannel, consumer: str, bindings: Sequence[str], delivery_limit: int
    ) -> str:
        """A quorum queue per consumer with an explicit delivery limit, and its dead-letter queue."""
        self.declare_exchanges(channel)
        dlq = self.dead_letter_queue(consumer)
        channel.queue_declare(dlq, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dlq, self.dead_letter_exchange, routing_key=dlq)
        name = self.queue(consumer)
        channel.queue_declare(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": self.dead_letter_exchange,
                "x-dead-letter-routing-key": dlq,
            },
        )
        for key in bindings:
            channel.queue_bind(name, self.exchange, routing_key=key)
        return name


def connection_parameters(
    amqp_url: str, heartbeat: int = 30, timeout: float = 5.0, name: str | None = None
) -> pika.URLParameters:
    """The parameters of a connection: names, timeouts and, for `amqps://`, verified TLS."""
    parameters = pika.URLParameters(amqp_url)
    if name:
        parameters.client_properties = {"connection_name": name}
    parameters.heartbeat = heartbeat
    parameters.blocked_connection_timeout = 30
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.connection_attempts = 1
    if parameters.ssl_options is not None or amqp_url.startswith("amqps://"):
        # TLS to the broker, verified against the deployment's own CA when one is named.
        context = ssl.create_default_context(cafile=os.environ.get("NUANLIU_CA_FILE") or None)
        parameters.ssl_options = pika.SSLOptions(context, server_hostname=parameters.host)
    return parameters


def connect(
    amqp_url: str, heartbeat: int = 30, timeout: float = 5.0, name: str | None = None
) -> pika.BlockingConnection:
    """A blocking connection; `name` shows in the broker's connection list (and lets an
    operator or a test close exactly this connection)."""
    parameters = connection_parameters(amqp_url, heartbeat, timeout, name)
    try:
        return pika.BlockingConnection(parameters)
    except (pika.exceptions.AMQPError, OSError) as error:
        raise BrokerUnavailable(str(error) or type(error).__name__) from error


