"""RabbitMQ with pika: topology, a confirming publisher, and the consumer base.

pika is not thread-safe and does not recover by itself, so:
- each process (or thread) opens its own connection, after any fork;
- publishers and consumers reconnect in loops;
- a consumer runs handlers on a worker thread while the connection thread keeps heartbeats
  alive, and acks through `add_callback_threadsafe`.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from shared.events import Envelope, PoisonMessage, parse_envelope

log = logging.getLogger(__name__)

EXCHANGE = "nuanliu.events"


class BrokerUnavailable(RuntimeError):
    """The broker cannot be reached or the connection broke."""


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


def connect(amqp_url: str, heartbeat: int = 30, timeout: float = 5.0) -> pika.BlockingConnection:
    parameters = pika.URLParameters(amqp_url)
    parameters.heartbeat = heartbeat
    parameters.blocked_connection_timeout = 30
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.connection_attempts = 1
    try:
        return pika.BlockingConnection(parameters)
    except (pika.exceptions.AMQPError, OSError) as error:
        raise BrokerUnavailable(str(error) or type(error).__name__) from error


class Publisher:
    """Persistent, mandatory publishing with publisher confirms. Reconnects on the next call."""

    def __init__(self, amqp_url: str, topology: Topology) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _ensure_channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = connect(self.amqp_url)
            channel = self._connection.channel()
            self.topology.declare_exchanges(channel)
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def publish(self, event_type: str, event_id: str, body: bytes) -> None:
        error = self.publish_batch([(event_type, event_id, body)])[0]
        if error:
            raise Unroutable(error)

    def publish_batch(self, messages: Sequence[tuple[str, str, bytes]]) -> list[str | None]:
        """Publish each message and wait for its confirm; returns an error text or None per message.

        Raises BrokerUnavailable if the connection fails; the caller keeps those rows for later.
        """
        results: list[str | None] = []
        try:
            channel = self._ensure_channel()
            for event_type, event_id, body in messages:
                try:
                    channel.basic_publish(
                        self.topology.exchange,
                        routing_key=event_type,
                        body=body,
                        properties=pika.BasicProperties(
                            content_type="application/cloudevents+json",
                            delivery_mode=pika.DeliveryMode.Persistent,
                            message_id=event_id,
                            type=event_type,
                        ),
                        mandatory=True,
                    )
                    results.append(None)
                except pika.exceptions.UnroutableError:
                    results.append(f"unroutable: no queue is bound for {event_type}")
                except pika.exceptions.NackError:
                    results.append("the broker refused the message (nack)")
        except (pika.exceptions.AMQPError, OSError) as error:
            self.close()
            raise BrokerUnavailable(str(error) or type(error).__name__) from error
        return results

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                pass


Handler = Callable[[Envelope], None]


class Consumer:
    """A durable consumer of event types: quorum queue, manual acks, DLQ, reconnect loop.

    The handler must be idempotent (use the inbox). It returns normally to ack; it raises to
    have the message redelivered, up to the queue's delivery limit, then dead-lettered.
    Messages that can never be handled (PoisonMessage) are dead-lettered at once.
    """

    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        name: str,
        bindings: Sequence[str],
        handler: Handler,
        prefetch: int = 50,
        delivery_limit: int = 5,
    ) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.name = name
        self.bindings = list(bindings)
        self.handler = handler
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.handled = 0
        self.dead_lettered = 0
        self._stop = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._work: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self.ready = threading.Event()

    def declare(self) -> None:
        connection = connect(self.amqp_url)
        try:
            self.topology.declare_consumer(
                connection.channel(), self.name, self.bindings, self.delivery_limit
            )
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)  # wake the I/O loop
            except Exception:  # the connection may already be gone; stopping anyway
                pass

    def run_forever(self) -> None:
        """Consume until stop(); reconnect with backoff whenever the broker goes away."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                delay = 0.5
            except (BrokerUnavailable, pika.exceptions.AMQPError, OSError) as error:
                self.ready.clear()
                log.warning(
                    "consumer %s lost the broker (%s); reconnecting in %.1fs", self.name, error, delay
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 15.0)

    def _consume(self) -> None:
        connection = connect(self.amqp_url)
        self._connection = connection
        channel = connection.channel()
        queue_name = self.topology.declare_consumer(channel, self.name, self.bindings, self.delivery_limit)
        channel.basic_qos(prefetch_count=self.prefetch)
        worker = threading.Thread(
            target=self._work_loop, args=(connection, channel), name=f"{self.name}-handler", daemon=True
        )
        worker.start()
        channel.basic_consume(queue_name, on_message_callback=self._on_message, auto_ack=False)
        self.ready.set()
        try:
            while not self._stop.is_set() and connection.is_open:
                connection.process_data_events(time_limit=0.5)
        finally:
            self._work.put(None)
            worker.join(timeout=30)
            self._work = queue.Queue()
            self._connection = None
            if connection.is_open:
                try:
                    connection.close()
                except (pika.exceptions.AMQPError, OSError):
                    pass

    def _on_message(self, channel: BlockingChannel, method: object, _properties: object, body: bytes) -> None:
        self._work.put((method.delivery_tag, body))  # type: ignore[attr-defined]

    def _work_loop(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        work = self._work
        while True:
            item = work.get()
            if item is None:
                return
            tag, body = item
            outcome = self._handle(body)
            try:
                connection.add_callback_threadsafe(functools.partial(self._settle, channel, tag, outcome))
            except Exception:  # connection closed: the broker redelivers the unacked message
                return

    def _handle(self, body: bytes) -> str:
        try:
            envelope = parse_envelope(body)
        except PoisonMessage as error:
            log.error("consumer %s dead-letters a poison message: %s", self.name, error)
            return "dead"
        try:
            self.handler(envelope)
        except Exception:
            log.exception("consumer %s failed to handle %s %s", self.name, envelope.type, envelope.id)
            return "retry"
        return "ack"

    def _settle(self, channel: BlockingChannel, tag: int, outcome: str) -> None:
        if not channel.is_open:
            return
        if outcome == "ack":
            channel.basic_ack(tag)
            self.handled += 1
        elif outcome == "dead":
            channel.basic_reject(tag, requeue=False)
            self.dead_lettered += 1
        else:
            # Requeue: the quorum queue counts deliveries and dead-letters past the limit.
            channel.basic_nack(tag, requeue=True)


def wait_for_broker(amqp_url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect(amqp_url, timeout=2).close()
            return
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
