"""The inbox: (consumer, event id) written in the same transaction as a consumer's effect,
so that a redelivered event has no effect twice. A consumer checks and writes it for a whole
batch at once (notify's `InboxRepository.first_deliveries`): one event at a time cost notify's
consumer about two thirds of its throughput."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

from shared.db import UTCDateTime


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(80), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
