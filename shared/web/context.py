"""What a service's views and use cases need, stored on the application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema
from sqlalchemy import Table

from shared.auth import VerifiedTokens
from shared.bus import BrokerUnavailable, connect
from shared.db import Database
from shared.settings import Settings


@dataclass
class ServiceContext:
    """What a service's views and use cases need, stored at `app.extensions["nuanliu"]`."""

    settings: Settings
    database: Database
    idempotency: Table | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # Bearer tokens this app verified lately (shared.web.auth.verify_token).
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    _broker_checked_at: float = 0.0
    _broker_ok: bool = False

    def broker_reachable(self) -> bool:
        # Opening an AMQP connection per probe is costly; cache the answer for a few seconds.
        now = time.monotonic()
        if now - self._broker_checked_at > 5.0:
            try:
                connect(self.settings.amqp_url, timeout=2.0).close()
                self._broker_ok = True
            except BrokerUnavailable:
                self._broker_ok = False
            self._broker_checked_at = now
        return self._broker_ok


def context() -> ServiceContext:
    return current_app.extensions["nuanliu"]


class ServiceBlueprint(SmorestBlueprint):
    """flask-smorest's Blueprint, with each arguments schema made once.

    Given a Schema class, webargs builds a new instance on every request (its fields deep-copied:
    a tenth of a millisecond on a check-in); an instance made here at import serves every
    request (marshmallow's `load` keeps no state on the instance)."""

    def arguments(self, schema: Any, **kwargs: Any) -> Any:
        if isinstance(schema, type) and issubclass(schema, Schema):
            schema = schema()
        return super().arguments(schema, **kwargs)


def Blueprint(name: str, import_name: str, **kwargs: Any) -> ServiceBlueprint:  # noqa: N802
    return ServiceBlueprint(name, import_name, **kwargs)
