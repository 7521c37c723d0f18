"""A transfer's 待办 ends at the org of its newest event, whatever order its events arrive in
(several consumers or relays, redeliveries): notify keeps the version of what set each to-do."""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from services.notify.consumer import handle_events
from services.notify.models import OrgTodo
from shared.contracts import transfer as trf
from shared.db import Database, utcnow
from shared.events import Envelope, make_envelope
from tests.support.notify_events import samples


def journey() -> tuple[str, list[Envelope]]:
    """A transfer's events in the order they happened: at the branch, the township, the county,
    then completed; each a second after the one before."""
    base = samples()[trf.STAGE_DECIDED][0]
    town, county = base["stage_org_code"], f"{base['stage_org_code']}-county"
    steps = [
        (trf.REQUESTED, "pending_sending_branch", base["from_branch_code"]),
        (trf.STAGE_DECIDED, "pending_township", town),
        (trf.STAGE_DECIDED, "pending_county", county),
        (trf.COMPLETED, "completed", None),
    ]
    extra = {
        trf.REQUESTED: {"reason": "工作调动", "applicant": base["member_id"]},
        trf.STAGE_DECIDED: {},
        trf.COMPLETED: {"completed_at": "2026-12-01T10:00:00+00:00"},
    }
    start = utcnow()
    events = []
    for n, (event_type, status, org_code) in enumerate(steps):
        data = {**base, **extra[event_type], "status": status, "stage": status, "stage_org_code": org_code}
        envelope = make_envelope(event_type, "transfer", base["transfer_id"], data)
        events.append(replace(envelope, time=start + timedelta(seconds=n)))
    return base["transfer_id"], events


def todos_of(database: Database, transfer_id: str) -> list[str]:
    with database.reader() as session:
        return list(
            session.scalars(
                select(OrgTodo.org_code).where(OrgTodo.kind == "transfer", OrgTodo.ref_id == transfer_id)
            )
        )


def test_every_order_of_a_completed_transfers_events_leaves_no_todo(migrated):
    database = migrated("notify")
    _, events = journey()
    for order in itertools.permutations(events):
        transfer_id, fresh = journey()  # fresh ids: the inbox would drop a second delivery
        by_position = {e.id: n for n, e in enumerate(events)}
        for envelope in (fresh[by_position[e.id]] for e in order):
            handle_events(database, [envelope])
        assert todos_of(database, transfer_id) == [], [e.type for e in order]


def test_an_older_stage_arriving_last_does_not_move_the_todo_back(migrated):
    database = migrated("notify")
    transfer_id, events = journey()
    requested, at_town, at_county, _completed = events
    handle_events(database, [at_county])
    handle_events(database, [at_town, requested])  # late, in one batch
    assert todos_of(database, transfer_id) == [at_county.data["stage_org_code"]]
    handle_events(database, [at_town])  # a redelivery changes nothing either
    assert todos_of(database, transfer_id) == [at_county.data["stage_org_code"]]


def test_concurrent_consumers_with_shuffled_deliveries_agree_on_the_newest(migrated):
    database = migrated("notify")
    journeys = [journey() for _ in range(12)]
    # Each transfer stops at the county: its newest event is the county stage.
    deliveries = [e for _, events in journeys for e in events[:3]]
    halves = [deliveries[0::2], deliveries[1::2]]
    errors: list[BaseException] = []

    def consume(envelopes: list[Envelope], seed: int) -> None:
        shuffled = random.Random(seed).sample(envelopes, len(envelopes))
        try:
            for n in range(0, len(shuffled), 3):
                handle_events(database, shuffled[n : n + 3])
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=consume, args=(half, n)) for n, half in enumerate(halves)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for transfer_id, events in journeys:
        assert todos_of(database, transfer_id) == [events[2].data["stage_org_code"]]
