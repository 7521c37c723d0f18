"""The CloudEvents 1.0 envelope, validated against the event types' data schemas.

Every event a service publishes is declared once in `shared.contracts` (its `CONTRACTS`
mapping), so that publishers validate what they send and consumers validate what they receive
against the same schema.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError

from shared.contracts import CONTRACTS
from shared.db import utcnow
from shared.tracing import current_traceparent

SPEC_VERSION = "1.0"


class PoisonMessage(ValueError):
    """A message that can never be processed: malformed JSON, unknown type, or invalid data."""


def registered_types() -> list[str]:
    return sorted(CONTRACTS)


def schema_for(event_type: str) -> Schema:
    try:
        return CONTRACTS[event_type]
    except KeyError as error:
        raise PoisonMessage(f"unknown event type {event_type!r}") from error


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    correlation_id: str
    data: dict[str, Any]
    # W3C trace context of the request that made the event (CloudEvents distributed tracing).
    traceparent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "subject": self.subject,
            "datacontenttype": "application/json",
            "correlationid": self.correlation_id,
            "data": self.data,
            **({"traceparent": self.traceparent} if self.traceparent else {}),
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def make_envelope(
    event_type: str,
    service: str,
    subject: str,
    data: dict[str, Any],
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Build an envelope, validating `data` against the registered contract. `event_id` is given
    where a fact must have one id however often it is announced (consumers dedupe by it)."""
    schema = schema_for(event_type)
    try:
        loaded = schema.load(data)  # one pass validates and loads (validate() would load it twice)
    except ValidationError as error:
        raise ValueError(f"{event_type} data breaks its contract: {error.messages}") from error
    event_id = event_id or str(uuid.uuid4())
    return Envelope(
        id=event_id,
        type=event_type,
        source=f"/nuanliu/{service}",
        subject=subject,
        time=utcnow(),
        correlation_id=correlation_id or event_id,
        data=schema.dump(loaded),
        traceparent=current_traceparent(),
    )


def parse_envelope(body: bytes) -> Envelope:
    """Parse and validate a received message; raise PoisonMessage if it can never be handled."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PoisonMessage(f"malformed JSON: {error}") from error
    if not isinstance(raw, dict):
        raise PoisonMessage("envelope is not a JSON object")
    missing = [key for key in ("specversion", "id", "source", "type", "time", "data") if key not in raw]
    if missing:
        raise PoisonMessage(f"envelope lacks {', '.join(missing)}")
    if raw["specversion"] != SPEC_VERSION:
        raise PoisonMessage(f"unsupported specversion {raw['specversion']!r}")
    schema = schema_for(str(raw["type"]))
    try:
        data = schema.load(raw["data"])
        when = datetime.fromisoformat(str(raw["time"]))
    except (ValidationError, ValueError, TypeError) as error:
        raise PoisonMessage(f"invalid {raw['type']} event: {error}") from error
    return Envelope(
        id=str(raw["id"]),
        type=str(raw["type"]),
        source=str(raw["source"]),
        subject=str(raw.get("subject") or ""),
        time=when,
        correlation_id=str(raw.get("correlationid") or raw["id"]),
        data=data,
        traceparent=str(raw["traceparent"]) if raw.get("traceparent") else None,
    )
