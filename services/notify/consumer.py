"""The notify consumer: every event type → notifications, with inbox dedup, in batches."""

from __future__ import annotations

from collections.abc import Sequence

from services.notify import commands, domain
from services.notify.app import open_database
from services.notify.directory import Names, registration_directory
from services.notify.repositories import CONSUMER
from services.notify.settings import NotifySettings
from services.notify.unit_of_work import NotifyUnitOfWork
from shared.bus import Consumer, Topology
from shared.db import Database
from shared.events import Envelope

__all__ = ["CONSUMER", "build_consumer", "handle_event", "handle_events"]


def handle_events(
    database: Database,
    envelopes: Sequence[Envelope],
    policy: domain.DeliveryPolicy = domain.DEFAULT_POLICY,
    names: Names | None = None,
) -> int:
    """One batch of events in one transaction. Returns how many notifications were added.

    A concurrent duplicate fails on the inbox key at commit and rolls the whole batch back; the
    bus consumer then retries event by event."""
    return commands.handle_events(
        NotifyUnitOfWork(database), commands.HandleEvents(tuple(envelopes)), policy, names
    )


def handle_event(
    database: Database,
    envelope: Envelope,
    policy: domain.DeliveryPolicy = domain.DEFAULT_POLICY,
    names: Names | None = None,
) -> int:
    """Store one event's notifications; a redelivered event adds none."""
    return handle_events(database, [envelope], policy, names)


def build_consumer(settings: NotifySettings) -> Consumer:
    database = open_database(settings)
    policy = settings.delivery_policy()
    names = registration_directory(settings)
    return Consumer(
        settings.amqp_url,
        Topology(settings.broker_prefix),
        name=CONSUMER,
        bindings=["#"],  # notify hears every event; routing decides who is told
        handler=lambda envelope: handle_event(database, envelope, policy, names),
        # A batch is one transaction: far fewer commits than one per event.
        batch_handler=lambda envelopes: handle_events(database, envelopes, policy, names),
        prefetch=settings.consumer_prefetch,
        batch_wait=settings.consumer_batch_wait,
        delivery_limit=settings.consumer_delivery_limit,
    )
