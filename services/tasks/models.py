"""The tasks service's own tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.audit import audit_table
from shared.db import new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox = Outbox(outbox_table(Base.metadata), "tasks")
audit_log = audit_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
