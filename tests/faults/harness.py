"""What the fault scenarios share: a stack with per-process environment, HTTP set-up helpers,
broker probes and the loss/duplication audit."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import requests
from sqlalchemy import select

from shared.bus import Topology
from shared.db import Database
from tests.support.builders import id_number, member_body, unique_code
from tests.support.infra import AMQP_URL
from tests.support.stack import Stack
from tests.support.tokens import ADMIN, bearer

# Every scenario gets its own broker prefix; these are the queues a scenario may leave behind.
SCENARIO_NUMBERS = itertools.count(1)
CONSUMERS = ["notify", "transfer", "tasks", "registration"]


class FaultStack(Stack):
    """A Stack whose processes may each get their own environment (e.g. an AMQP_URL via a proxy)."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        super().__init__(log_dir, env)
        self.overrides: dict[str, dict[str, str]] = {}

    def start_with(self, name: str, **extra: str) -> None:
        self.overrides[name] = dict(extra)
        self.restart(name)

    def restart(self, name: str) -> None:
        base = self.env
        self.env = {**base, **self.overrides.get(name, {})}
        try:
            self.start(name)
        finally:
            self.env = base

    def running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    @property
    def prefix(self) -> str:
        return self.env["NUANLIU_BROKER_PREFIX"]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- set-up over HTTP -------------------------------------------------------------------------


def create_branch(base: str) -> dict[str, str]:
    """A fresh province → county → township → branch chain; returns level → code."""
    codes: dict[str, str] = {}
    parent = "CN"
    for level in ("province", "county", "township", "branch"):
        code = unique_code(level[:2].upper())
        response = requests.post(
            f"{base}/api/v1/orgs",
            json={"code": code, "name": f"{level}-{code}", "level": level, "parent_code": parent},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        codes[level] = parent = code
    return codes


def fresh_member_body(branch: str) -> dict[str, object]:
    """A member body whose id_number is unique in practice: the shared builder draws only from
    1,000 numbers per birth date, which collide over a whole session; this spreads birth dates."""
    born = date(1960, 1, 1) + timedelta(days=random.randrange(12_500))  # born by 1994: joined 2015 at 18+
    return member_body(branch, birth_date=born.isoformat(), id_number=id_number(born))


def create_members(base: str, branch: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = requests.post(
            f"{base}/api/v1/members", json=fresh_member_body(branch), headers=ADMIN, timeout=10
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def check_in(base: str, member_id: str, branch: str, timeout: float = 10) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/checkins",
        json={"member_id": member_id, "branch_code": branch, "kind": "self"},
        headers=bearer("member", branch, sub=member_id),
        timeout=timeout,
    )


# --- the broker -----------------------------------------------------------------------------------


def queue_exists(prefix: str, consumer: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().queue_declare(Topology(prefix).queue(consumer), passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        connection.close()


def drain_queue(queue: str, limit: int = 1000) -> list[tuple[pika.spec.BasicProperties, bytes]]:
    """Take (and ack) every message now in a queue, e.g. a dead-letter queue."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    messages = []
    try:
        channel = connection.channel()
        for _ in range(limit):
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            messages.append((properties, body))
    finally:
        connection.close()
    return messages


# --- the audit --------------------------------------------------------------------------------


def outbox_events(database: Database, event_type: str, subjects: Iterable[str]) -> list[dict[str, Any]]:
    """The outbox rows of one type about `subjects`: event id, body data, sent or not."""
    from services.registration.models import outbox

    table = outbox.table
    wanted = set(subjects)
    with database.reader() as session:
        rows = session.execute(
            select(table.c.event_id, table.c.subject, table.c.body, table.c.sent_at).where(
                table.c.event_type == event_type
            )
        ).all()
    return [
        {"event_id": r.event_id, "data": json.loads(r.body)["data"], "sent": r.sent_at is not None}
        for r in rows
        if r.subject in wanted
    ]


def notification_counts(database: Database, event_ids: Iterable[str]) -> Counter[str]:
    """How many notifications each event produced (0 = lost, >1 per recipient = duplicated)."""
    from services.notify.models import Notification

    ids = list(event_ids)
    counts: Counter[str] = Counter()
    with database.reader() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for (event_id,) in session.execute(
                select(Notification.event_id).where(Notification.event_id.in_(chunk))
            ):
                counts[event_id] += 1
    return counts


def loss_and_duplication(expected: Iterable[str], counts: Counter[str]) -> dict[str, int]:
    expected_ids = list(expected)
    return {
        "expected": len(expected_ids),
        "delivered": sum(1 for e in expected_ids if counts[e] >= 1),
        "lost": sum(1 for e in expected_ids if counts[e] == 0),
        "duplicated": sum(1 for e in expected_ids if counts[e] > 1),
    }


def outbox_event_ids(database: Database, service: str, subjects: Iterable[str]) -> dict[str, bool]:
    """Event id → sent, for the outbox rows of one service about `subjects`."""
    from deploy.processes import service_module

    table = service_module(service, "models").outbox.table
    wanted = list(subjects)
    found: dict[str, bool] = {}
    with database.reader() as session:
        for start in range(0, len(wanted), 500):
            for event_id, sent_at in session.execute(
                select(table.c.event_id, table.c.sent_at).where(
                    table.c.subject.in_(wanted[start : start + 500])
                )
            ):
                found[event_id] = sent_at is not None
    return found


def notify_processed(database: Database, event_ids: Iterable[str]) -> Counter[str]:
    """How many times notify's inbox recorded each event (its consumer's effect, exactly once)."""
    from services.notify.models import inbox

    ids = list(event_ids)
    counts: Counter[str] = Counter()
    with database.reader() as session:
        for start in range(0, len(ids), 500):
            for (event_id,) in session.execute(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == "notify", inbox.c.event_id.in_(ids[start : start + 500])
                )
            ):
                counts[event_id] += 1
    return counts
