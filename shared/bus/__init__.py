"""RabbitMQ with pika: topology, a confirming publisher, and the consumer base.

pika is not thread-safe and does not recover by itself, so:
- each process (or thread) opens its own connection, after any fork;
- publishers and consumers reconnect in loops;
- a consumer runs handlers on a worker thread while the connection thread keeps heartbeats
  alive, and acks through `add_callback_threadsafe`.
"""

from shared.bus.consumer import BatchHandler, Consumer, Handler
from shared.bus.publisher import Publisher
from shared.bus.topology import EXCHANGE, BrokerUnavailable, Topology, TopologyMismatch, Unroutable, connect

__all__ = [
    "EXCHANGE",
    "BatchHandler",
    "BrokerUnavailable",
    "Consumer",
    "Handler",
    "Publisher",
    "Topology",
    "TopologyMismatch",
    "Unroutable",
    "connect",
]
