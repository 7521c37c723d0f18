"""The notify consumer: every event type → notifications, with inbox dedup, in batches."""

from __future__ import annotations

from services.notify import service
from services.notify.app import open_database
from shared.bus import Consumer, Topology
from shared.settings import Settings


def build_consumer(settings: Settings) -> Consumer:
    database = open_database(settings)
    policy = service.DeliveryPolicy.from_settings(settings)
    return Consumer(
        settings.amqp_url,
        Topology(settings.broker_prefix),
        name=service.CONSUMER,
        bindings=["#"],  # notify hears every event; routing decides who is told
        handler=lambda envelope: service.handle_event(database, envelope, policy),
        # A batch is one transaction: far fewer commits than one per event.
        batch_handler=lambda envelopes: service.handle_events(database, envelopes, policy),
        prefetch=settings.consumer_prefetch,
        delivery_limit=settings.consumer_delivery_limit,
    )
