"""The notify unit of work: one transaction on notify's database, with its repositories.

Notify publishes no events and its use cases write no audit entries (it has no outbox; its audit
table exists for the common audit reader): they change rows only, so `emit` and `audit` refuse
rather than lose what they are given."""

from __future__ import annotations

from typing import Any, Self

from services.notify.repositories import (
    ActionRepository,
    DeliveryRepository,
    InboxRepository,
    NotificationRepository,
    PreferenceRepository,
    TodoRepository,
)
from shared.audit import OrgScope
from shared.db import Database
from shared.uow import Caller, SqlUnitOfWork


class NotifyUnitOfWork(SqlUnitOfWork):
    inbox: InboxRepository
    notifications: NotificationRepository
    deliveries: DeliveryRepository
    preferences: PreferenceRepository
    todos: TodoRepository
    actions: ActionRepository

    def __init__(self, database: Database) -> None:
        # No outbox and no audit table: see the module's docstring (emit and audit refuse).
        super().__init__(database, outbox=None, audit_log=None)  # type: ignore[arg-type]

    def __enter__(self) -> Self:
        super().__enter__()
        session = self.session
        self.inbox = InboxRepository(session)
        self.notifications = NotificationRepository(session)
        self.deliveries = DeliveryRepository(session, lock_rows=not self.database.is_sqlite)
        self.preferences = PreferenceRepository(session)
        self.todos = TodoRepository(session)
        self.actions = ActionRepository(session)
        return self

    def emit(self, event_type: str, subject: str, data: dict[str, Any], event_id: str | None = None) -> None:
        raise NotImplementedError("notify has no outbox: its use cases publish no events")

    def audit(
        self,
        actor: Caller,
        action: str,
        object_type: str,
        object_id: str,
        detail: str | None = None,
        request_id: str | None = None,
        org: OrgScope | None = None,
    ) -> None:
        raise NotImplementedError("notify has no audit log")
