"""The consumer base: a durable consumer of event types with manual acks and a reconnect loop."""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pika
import pika.exceptions
import pika.frame
import pika.spec
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pika.adapters.blocking_connection import BlockingChannel

from shared import metrics, tracing
from shared.bus.topology import BrokerUnavailable, Topology, TopologyMismatch, connect
from shared.events import Envelope, PoisonMessage, parse_envelope
from shared.logging import bind_ids

log = logging.getLogger(__name__)


# A consumer whose loops have not turned for this long is stuck: its process is restarted.
LIVENESS_SECONDS = 60.0
# How often the consumer reads its dead-letter queue's depth for the gauge.
DEAD_LETTERS_EVERY_SECONDS = 15.0

# A handler's return value is ignored (e.g. how many notifications it stored).
Handler = Callable[[Envelope], object]
BatchHandler = Callable[[list[Envelope]], object]


class Consumer:
    """A durable consumer of event types: quorum queue, manual acks, DLQ, reconnect loop.

    The handler must be idempotent (use the inbox). It returns normally to ack; it raises to
    have the message redelivered, up to the queue's delivery limit, then dead-lettered.
    Messages that can never be handled (PoisonMessage) are dead-lettered at once.

    With a `batch_handler`, the messages already waiting (up to `batch_size`) are handled in
    one call, e.g. one database transaction; if that call raises, each message of the batch is
    handled alone with `handler`, so one bad message cannot hold back the others. With
    `batch_wait` (seconds), a batch waits that long at most for more messages to join it once
    its first has arrived: each costs a message that much latency, and saves the per-batch work
    (a transaction, its statements) many times over under load. A batch handled whole is acked
    with one `multiple` ack after its commit.
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
        batch_wait: float = 0.0,
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
        self.batch_wait = batch_wait if batch_handler is not None else 0.0
        self.delivery_limit = delivery_limit
        self.connection_name = connection_name or f"{topology.prefix}{name}-consumer"
        self.handled = 0
        self.dead_lettered = 0
        self.connections = 0
        self._stop = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self.last_beat = time.monotonic()
        self._work: queue.Queue[tuple[int, bytes, str | None] | None] = queue.Queue()
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

    def alive(self) -> bool:
        """The I/O loop (or its reconnect loop) turned within a minute: the liveness probe."""
        return time.monotonic() - self.last_beat < LIVENESS_SECONDS

    def run_forever(self) -> None:
        """Consume until stop(); reconnect with backoff whenever the broker goes away."""
        delay = 0.5
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
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
        queue_name = self._declare(channel)
        channel.basic_qos(prefetch_count=self.prefetch)
        worker = threading.Thread(
            target=self._work_loop, args=(connection, channel), name=f"{self.name}-handler", daemon=True
        )
        worker.start()
        channel.basic_consume(queue_name, on_message_callback=self._on_message, auto_ack=False)
        self.ready.set()
        try:
            measured_at = 0.0
            while not self._stop.is_set() and connection.is_open:
                self.last_beat = time.monotonic()
                if self.last_beat - measured_at > DEAD_LETTERS_EVERY_SECONDS:
                    measured_at = self.last_beat
                    self._measure_dead_letters(channel)
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

    def _declare(self, channel: BlockingChannel) -> str:
        try:
            return self.topology.declare_consumer(channel, self.name, self.bindings, self.delivery_limit)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code != 406:
                raise
            message = (
                f"consumer {self.name}: the broker's queue was declared with other arguments "
                f"({error.reply_text}). A reconnect cannot fix this: change the setting back, or "
                "set it with a broker policy, or drain and delete the queue before starting again."
            )
            log.critical(message)
            raise TopologyMismatch(message) from error

    def _measure_dead_letters(self, channel: BlockingChannel) -> None:
        """The dead-letter queue's depth for its gauge (a passive declare: one round trip)."""
        frame = channel.queue_declare(self.topology.dead_letter_queue(self.name), passive=True)
        metrics.DEAD_LETTER_DEPTH.labels(self.name).set(frame.method.message_count)

    def _on_message(
        self, channel: BlockingChannel, method: object, properties: pika.BasicProperties, body: bytes
    ) -> None:
        # The relay's producer span travels in the AMQP headers; the consumer continues it.
        traceparent = (properties.headers or {}).get("traceparent") if properties is not None else None
        self._work.put((method.delivery_tag, body, traceparent))  # type: ignore[attr-defined]

    def _work_loop(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        work = self._work
        finished = False
        while not finished:
            item = work.get()
            if item is None:
                return
            items = [item]
            # Take what is already waiting, and what arrives within `batch_wait` of the first.
            gather_until = time.monotonic() + self.batch_wait
            while len(items) < self.batch_size:
                try:
                    more = work.get_nowait()
                except queue.Empty:
                    remaining = gather_until - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        more = work.get(timeout=remaining)
                    except queue.Empty:
                        break
                if more is None:
                    finished = True
                    break
                items.append(more)
            started = time.perf_counter()
            outcomes = self._handle_all(items)
            metrics.CONSUMER_HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            try:
                connection.add_callback_threadsafe(functools.partial(self._settle_all, channel, outcomes))
            except Exception:  # connection closed: the broker redelivers the unacked messages
                return

    def _handle_all(self, items: list[tuple[int, bytes, str | None]]) -> list[tuple[int, str]]:
        if self.batch_handler is None or len(items) == 1:
            return [(tag, self._handle(body, traceparent)) for tag, body, traceparent in items]
        outcomes: list[tuple[int, str]] = []
        parsed: list[tuple[int, bytes, str | None, Envelope]] = []
        for tag, body, traceparent in items:
            try:
                parsed.append((tag, body, traceparent, parse_envelope(body)))
            except PoisonMessage as error:
                log.error("consumer %s dead-letters a poison message: %s", self.name, error)
                outcomes.append((tag, "dead"))
        if not parsed:
            return outcomes
        envelopes = [envelope for _tag, _body, _traceparent, envelope in parsed]
        try:
            # One transaction for the batch: one span, in the trace of the first message whose
            # trace is recorded, linked to the other messages' traces.
            parent, linked = tracing.parent_and_links([tp or envelope.traceparent for _t, _b, tp, envelope in parsed])
            with self._span(f"process {len(envelopes)} events", parent, linked):
                self.batch_handler(envelopes)
        except Exception:
            log.warning("consumer %s: a batch of %d failed; handling one by one", self.name, len(parsed))
            return outcomes + [(tag, self._handle(body, tp)) for tag, body, tp, _envelope in parsed]
        for envelope in envelopes:
            metrics.CONSUMER_HANDLED.labels(self.name, envelope.type).inc()
        return outcomes + [(tag, "ack") for tag, _body, _traceparent, _envelope in parsed]

    def _handle(self, body: bytes, traceparent: str | None = None) -> str:
        try:
            envelope = parse_envelope(body)
        except PoisonMessage as error:
            log.error("consumer %s dead-letters a poison message: %s", self.name, error)
            return "dead"
        bind_ids(envelope.id, envelope.correlation_id)
        try:
            with self._span(f"process {envelope.type}", traceparent or envelope.traceparent):
                self.handler(envelope)
        except Exception:
            log.exception("consumer %s failed to handle %s %s", self.name, envelope.type, envelope.id)
            return "retry"
        metrics.CONSUMER_HANDLED.labels(self.name, envelope.type).inc()
        return "ack"

    @contextmanager
    def _span(self, name: str, traceparent: str | None, linked: Sequence[str] = ()) -> Iterator[None]:
        """A consumer span continuing the producer's, current while the handler runs (tracing on)."""
        if not tracing.tracing_on():
            yield
            return
        span = tracing.start_span(name, traceparent, SpanKind.CONSUMER, linked, **{"messaging.system": "rabbitmq"})
        with trace.use_span(span, end_on_exit=True):
            yield

    def _settle_all(self, channel: BlockingChannel, outcomes: list[tuple[int, str]]) -> None:
        if len(outcomes) > 1 and all(outcome == "ack" for _tag, outcome in outcomes):
            # Batches are settled in delivery order, so every earlier tag is settled already:
            # one ack for the batch.
            if channel.is_open:
                channel.basic_ack(max(tag for tag, _outcome in outcomes), multiple=True)
                self.handled += len(outcomes)
            return
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
            metrics.CONSUMER_DEAD_LETTERED.labels(self.name).inc()
        else:
            # Requeue: the quorum queue counts deliveries and dead-letters past the limit.
            channel.basic_nack(tag, requeue=True)

