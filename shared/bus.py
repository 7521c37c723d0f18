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
import pika.frame
import pika.spec
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


def connect(
    amqp_url: str, heartbeat: int = 30, timeout: float = 5.0, name: str | None = None
) -> pika.BlockingConnection:
    """A blocking connection; `name` shows in the broker's connection list (and lets an
    operator or a test close exactly this connection)."""
    parameters = pika.URLParameters(amqp_url)
    if name:
        parameters.client_properties = {"connection_name": name}
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
    """Persistent, mandatory publishing with publisher confirms. Reconnects on the next call.

    A batch is published in one go and its confirms are collected asynchronously (the broker
    acks many messages in one frame), instead of one round trip per message as pika's
    `BlockingChannel.confirm_delivery` does. That needs the channel's underlying async
    implementation (`channel._impl`), the one part of pika used below its blocking API.
    """

    def __init__(
        self, amqp_url: str, topology: Topology, confirm_timeout: float = 30.0, heartbeat: int = 30
    ) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.confirm_timeout = confirm_timeout
        self.heartbeat = heartbeat
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._next_tag = 1
        self._confirms: dict[int, bool] = {}  # delivery tag → acked (False: nacked)
        self._unconfirmed: set[int] = set()
        self._returned: dict[str, list[str]] = {}  # message id → why the broker returned it (each time)

    def _ensure_channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            connection = connect(self.amqp_url, heartbeat=self.heartbeat, name="nuanliu-publisher")
            channel = connection.channel()
            self.topology.declare_exchanges(channel)
            selected: list[bool] = []
            impl = channel._impl  # noqa: SLF001 (asynchronous confirms; see the class docstring)
            impl.add_on_return_callback(self._on_return)
            impl.confirm_delivery(
                ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.append(True)
            )
            deadline = time.monotonic() + self.confirm_timeout
            while not selected:
                if time.monotonic() > deadline:
                    raise BrokerUnavailable("the broker did not enable publisher confirms")
                connection.process_data_events(time_limit=0.05)
            self._connection, self._channel = connection, channel
            self._next_tag = 1
            self._confirms.clear()
            self._unconfirmed.clear()
        return self._channel

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            [tag for tag in self._unconfirmed if tag <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            self._unconfirmed.discard(tag)
            self._confirms[tag] = acked

    def _on_return(
        self, _channel: object, method: pika.spec.Basic.Return, properties: pika.BasicProperties, _body: bytes
    ) -> None:
        # A returned mandatory message is confirmed (acked) right after: remember why it came back.
        self._returned.setdefault(str(properties.message_id), []).append(
            f"unroutable: no queue is bound for {method.routing_key} ({method.reply_text})"
        )

    def keep_alive(self) -> None:
        """Let pika answer heartbeats while there is nothing to publish; a blocking connection
        does no I/O between calls, and the broker closes one that stays silent too long."""
        if self._connection is None or not self._connection.is_open:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except (pika.exceptions.AMQPError, OSError):
            self.close()  # reconnects on the next publish

    def publish(self, event_type: str, event_id: str, body: bytes) -> None:
        error = self.publish_batch([(event_type, event_id, body)])[0]
        if error:
            raise Unroutable(error)

    def publish_batch(self, messages: Sequence[tuple[str, str, bytes]]) -> list[str | None]:
        """Publish the messages and wait for all their confirms; an error text or None per message.

        Raises BrokerUnavailable if the connection fails or confirms do not come in time; the
        caller keeps those rows for later (a retry may duplicate, which consumers tolerate).
        """
        try:
            channel = self._ensure_channel()
            connection = self._connection
            assert connection is not None
            tags: list[int] = []
            for event_type, event_id, body in messages:
                tag = self._next_tag
                self._next_tag += 1
                self._unconfirmed.add(tag)
                tags.append(tag)
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
            deadline = time.monotonic() + self.confirm_timeout
            while any(tag not in self._confirms for tag in tags):
                if time.monotonic() > deadline:
                    raise BrokerUnavailable("publisher confirms timed out")
                connection.process_data_events(time_limit=0.01)
            results: list[str | None] = []
            for tag, (_type, event_id, _body) in zip(tags, messages, strict=True):
                reasons = self._returned.get(event_id)
                returned = reasons.pop(0) if reasons else None
                if reasons == []:
                    del self._returned[event_id]
                if not self._confirms.pop(tag):
                    results.append("the broker refused the message (nack)")
                else:
                    results.append(returned)
            return results
        except (pika.exceptions.AMQPError, OSError, BrokerUnavailable) as error:
            self.close()
            if isinstance(error, BrokerUnavailable):
                raise
            raise BrokerUnavailable(str(error) or type(error).__name__) from error

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._confirms.clear()
        self._unconfirmed.clear()
        self._returned.clear()
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                pass


Handler = Callable[[Envelope], None]
BatchHandler = Callable[[list[Envelope]], None]


class Consumer:
    """A durable consumer of event types: quorum queue, manual acks, DLQ, reconnect loop.

    The handler must be idempotent (use the inbox). It returns normally to ack; it raises to
    have the message redelivered, up to the queue's delivery limit, then dead-lettered.
    Messages that can never be handled (PoisonMessage) are dead-lettered at once.

    With a `batch_handler`, the messages already waiting (up to `batch_size`) are handled in
    one call, e.g. one database transaction; if that call raises, each message of the batch is
    handled alone with `handler`, so one bad message cannot hold back the others.
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
        batch_handler: BatchHandler | None = None,
        batch_size: int | None = None,
        connection_name: str | None = None,
        heartbeat: int = 30,
    ) -> None:
        self.amqp_url = amqp_url
        self.heartbeat = heartbeat
        self.topology = topology
        self.name = name
        self.bindings = list(bindings)
        self.handler = handler
        self.batch_handler = batch_handler
        self.prefetch = prefetch
        self.batch_size = batch_size or prefetch
        self.delivery_limit = delivery_limit
        self.connection_name = connection_name or f"{topology.prefix}{name}-consumer"
        self.handled = 0
        self.dead_lettered = 0
        self.connections = 0
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
        connection = connect(self.amqp_url, heartbeat=self.heartbeat, name=self.connection_name)
        self._connection = connection
        self.connections += 1
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
            self.ready.clear()
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
        finished = False
        while not finished:
            item = work.get()
            if item is None:
                return
            items = [item]
            # Take what is already waiting, without waiting for more: batching never adds latency.
            while len(items) < self.batch_size:
                try:
                    more = work.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    finished = True
                    break
                items.append(more)
            outcomes = self._handle_all(items)
            try:
                connection.add_callback_threadsafe(functools.partial(self._settle_all, channel, outcomes))
            except Exception:  # connection closed: the broker redelivers the unacked messages
                return

    def _handle_all(self, items: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
        if self.batch_handler is None or len(items) == 1:
            return [(tag, self._handle(body)) for tag, body in items]
        outcomes: list[tuple[int, str]] = []
        parsed: list[tuple[int, bytes, Envelope]] = []
        for tag, body in items:
            try:
                parsed.append((tag, body, parse_envelope(body)))
            except PoisonMessage as error:
                log.error("consumer %s dead-letters a poison message: %s", self.name, error)
                outcomes.append((tag, "dead"))
        if not parsed:
            return outcomes
        try:
            self.batch_handler([envelope for _tag, _body, envelope in parsed])
        except Exception:
            log.warning("consumer %s: a batch of %d failed; handling one by one", self.name, len(parsed))
            return outcomes + [(tag, self._handle(body)) for tag, body, _envelope in parsed]
        return outcomes + [(tag, "ack") for tag, _body, _envelope in parsed]

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

    def _settle_all(self, channel: BlockingChannel, outcomes: list[tuple[int, str]]) -> None:
        for tag, outcome in outcomes:
            self._settle(channel, tag, outcome)

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

