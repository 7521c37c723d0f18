"""Retention on the test database: only what is past its window goes, a batch per transaction;
notifications past a year move to the archive, whole."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from services.notify import domain
from services.notify.models import Delivery, Notification, inbox, notifications_archive
from services.notify.retention import retention_rules
from services.notify.settings import NotifySettings
from services.registration.models import idempotency_keys, outbox
from shared.db import new_id, utcnow
from shared.retention import Rule, prune, standard_rules


def test_only_sent_outbox_rows_past_the_window_go_in_batches(migrated) -> None:
    database = migrated("registration")
    now = utcnow()
    subject = f"retention-{uuid.uuid4()}"

    def row(sent_days_ago: float | None, created_days_ago: float) -> dict[str, object]:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": "registration.member_checked_in.v1",
            "subject": subject,
            "body": "{}",
            "created_at": now - timedelta(days=created_days_ago),
            "sent_at": None if sent_days_ago is None else now - timedelta(days=sent_days_ago),
            "attempts": 0,
        }

    rows = [row(10, 11) for _ in range(7)] + [row(1, 1), row(1, 12)] + [row(None, 30), row(None, 30)]
    with database.transaction() as session:
        session.execute(outbox.table.insert(), rows)
    rules = standard_rules(outbox.table, idempotency_keys, timedelta(days=7), timedelta(days=7))
    outbox_rule = Rule(
        rules[0].name, rules[0].table, rules[0].age_column, rules[0].keep,
        where=rules[0].where & (outbox.table.c.subject == subject),  # type: ignore[operator]
    )  # fmt: skip
    result = prune(database, outbox_rule, batch_size=3)
    assert (result.rows, result.batches) == (7, 3)
    with database.reader() as session:
        left = session.execute(
            select(outbox.table.c.sent_at).where(outbox.table.c.subject == subject)
        ).scalars().all()  # fmt: skip
    assert len(left) == 4 and sum(sent is None for sent in left) == 2, "unsent rows never go"
    assert prune(database, outbox_rule, batch_size=3).rows == 0


def test_notifications_past_a_year_move_to_the_archive_with_their_settled_deliveries(migrated) -> None:
    database = migrated("notify")
    now = utcnow()
    recipient = f"m-{uuid.uuid4().hex[:10]}"

    def notification(days_ago: int) -> dict[str, object]:
        return {
            "id": new_id(), "event_id": str(uuid.uuid4()), "type": "registration.member_created.v1",
            "recipient_kind": "member", "recipient": recipient, "title": "t", "body": "b",
            "title_en": "t", "body_en": "b", "urgent": False, "created_at": now - timedelta(days=days_ago),
        }  # fmt: skip

    old = [notification(400) for _ in range(5)]
    recent = [notification(10)]
    deliveries = [
        {
            "id": new_id(),
            "event_id": n["event_id"],
            "notification_id": n["id"],
            "person": recipient,
            "channel": "inapp",
            "locale": "zh-CN",
            "status": domain.SENT,
            "attempts": 1,
            "urgent": False,
            "created_at": n["created_at"],
            "updated_at": n["created_at"],
        }  # fmt: skip
        for n in old + recent
    ]
    old_event = str(uuid.uuid4())
    with database.transaction() as session:
        session.execute(Notification.__table__.insert(), old + recent)
        session.execute(Delivery.__table__.insert(), deliveries)
        session.execute(
            inbox.insert(),
            [
                {"consumer": "notify", "event_id": old_event, "event_type": "x", "processed_at": now - timedelta(days=40)},
                {"consumer": "notify", "event_id": str(uuid.uuid4()), "event_type": "x", "processed_at": now},
            ],
        )  # fmt: skip

    done = {rule.name: prune(database, rule, batch_size=2) for rule in retention_rules(NotifySettings())}
    assert done["notifications"].rows >= 5 and done["notifications"].batches >= 3
    with database.reader() as session:
        live = session.scalars(select(Notification.id).where(Notification.recipient == recipient)).all()
        archived = session.execute(
            select(notifications_archive).where(notifications_archive.c.recipient == recipient)
        ).all()  # fmt: skip
        kept_deliveries = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.person == recipient)
        )  # fmt: skip
        old_inbox = session.scalar(
            select(func.count()).select_from(inbox).where(inbox.c.event_id == old_event)
        )
    assert live == [recent[0]["id"]]
    assert sorted(row.id for row in archived) == sorted(str(n["id"]) for n in old)
    assert {row.title_en for row in archived} == {"t"}, "archived whole"
    assert kept_deliveries == 1
    assert old_inbox == 0
