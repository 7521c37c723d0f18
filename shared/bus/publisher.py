"""Persistent, mandatory publishing with publisher confirms."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import pika
import pika.exceptions
import pika.frame
import pika.spec
from pika.adapters.blocking_connection import BlockingChannel

from shared.bus.topology import BrokerUnavailable, Topology, Unroutable, connect

log = logging.getLogger(__name__)


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

    def publish_batch(
        self,
        messages: Sequence[tuple[str, str, bytes]],
        headers: Sequence[dict[str, str] | None] | None = None,
    ) -> list[str | None]:
        """Publish the messages and wait for all their confirms; an error text or None per message.

        `headers`, if given, has one entry per message: AMQP headers such as the `traceparent`.

        Raises BrokerUnavailable if the connection fails or confirms do not come in time; the
        caller keeps those rows for later (a retry may duplicate, which consumers tolerate).
        """
        try:
            channel = self._ensure_channel()
            connection = self._connection
            assert connection is not None
            tags: list[int] = []
            for index, (event_type, event_id, body) in enumerate(messages):
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
                        headers=headers[index] if headers else None,
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


