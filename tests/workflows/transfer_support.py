"""Helpers for transfer workflow tests: a projection row, a plan, and a registration double.

The registration double is not a mock of Temporal or SQLAlchemy: it stands in for another
service behind the activity's own collaborator interface, and counts the moves it receives.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from services.transfer import domain
from services.transfer.activities import TransferActivities
from services.transfer.clients import MoveRejected, Route
from services.transfer.commands import build_plan
from services.transfer.messages import Plan, TransferInput
from services.transfer.models import TimelineEntry, Transfer
from services.transfer.workflows import TransferWorkflow
from shared.db import Database, new_id, utcnow
from shared.settings import Settings
from tests.support.builders import unique_code


class RegistrationDouble:
    """Records moves per transfer id; refuses members listed in `refuse`."""

    def __init__(self) -> None:
        self.moves: Counter[str] = Counter()
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

    def move_relationship(self, member_id: str, branch_code: str, transfer_id: str) -> dict[str, Any]:
        if member_id in self.refuse:
            raise MoveRejected("registration refused the move (422): branch_code does not exist")
        with self._lock:
            self.moves[transfer_id] += 1
        return {"id": member_id, "branch_code": branch_code}


def route_for(kind: str) -> Route:
    """A route with fresh org codes: same_county shares the county, cross_province shares nothing."""
    province, county, township = unique_code("PR"), unique_code("CO"), unique_code("TW")
    sending = domain.RouteSide(unique_code("BR"), township, county, None, province)
    if kind == "same_county":
        receiving = domain.RouteSide(unique_code("BR"), unique_code("TW"), county, None, province)
    elif kind == "cross_county":
        receiving = domain.RouteSide(unique_code("BR"), unique_code("TW"), unique_code("CO"), None, province)
    else:
        receiving = domain.RouteSide(
            unique_code("BR"), unique_code("TW"), unique_code("CO"), None, unique_code("PR")
        )
    return Route(kind, sending, receiving)


def path_of(side: domain.RouteSide) -> str:
    codes = [c for c in ("CN", side.province, side.city, side.county, side.township, side.branch) if c]
    return "/" + "/".join(codes) + "/"


def insert_projection(database: Database, route: Route, plan: Plan) -> tuple[str, str]:
    """What the API writes before starting the workflow; returns (transfer id, member id)."""
    transfer_id, member_id = new_id(), new_id()
    now = utcnow()
    first = plan.chain[0]
    with database.transaction() as session:
        session.add(
            Transfer(
                id=transfer_id,
                member_id=member_id,
                member_name="王芳",
                open_member_id=member_id,
                applicant=member_id,
                applicant_role="member",
                reason="工作调动",
                route=route.route,
                from_branch_code=route.sending.branch,
                to_branch_code=route.receiving.branch,
                from_path=path_of(route.sending),
                to_path=path_of(route.receiving),
                status=domain.stage_status(first),
                current_stage=first,
                current_stage_org=plan.stage_orgs[first],
                due_at=now + timedelta(days=7),
                overdue=False,
                created_at=now,
                updated_at=now,
            )
        )
    return transfer_id, member_id


def transfer_input(
    settings: Settings, transfer_id: str, member_id: str, route: Route, plan: Plan
) -> TransferInput:
    return TransferInput(
        transfer_id=transfer_id,
        member_id=member_id,
        from_branch_code=route.sending.branch,
        plan=plan,
        dues_paid_through="2026-11",
        remind_after_seconds=settings.stage_remind_after.total_seconds(),
        overdue_after_seconds=settings.stage_overdue_after.total_seconds(),
        letter_remind_before_seconds=settings.letter_remind_before.total_seconds(),
    )


async def start_transfer(
    client: Client, task_queue: str, database: Database, settings: Settings, kind: str = "cross_province"
) -> tuple[WorkflowHandle[Any, str], str, str, Plan]:
    route = route_for(kind)
    plan = build_plan(settings, route, path_of(route.receiving))
    transfer_id, member_id = insert_projection(database, route, plan)
    handle = await client.start_workflow(
        TransferWorkflow.run,
        transfer_input(settings, transfer_id, member_id, route, plan),
        id=f"transfer-{transfer_id}",
        task_queue=task_queue,
    )
    return handle, transfer_id, member_id, plan


@asynccontextmanager
async def transfer_worker(
    client: Client, task_queue: str, database: Database, registration: RegistrationDouble
) -> AsyncIterator[Worker]:
    activities = TransferActivities(database, registration)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[TransferWorkflow],
            activities=activities.all(),
            activity_executor=executor,
        ) as worker:
            yield worker


def projection(database: Database, transfer_id: str) -> tuple[Transfer, list[TimelineEntry]]:
    with database.reader() as session:
        transfer = session.get(Transfer, transfer_id)
        assert transfer is not None
        timeline = session.scalars(
            select(TimelineEntry).where(TimelineEntry.transfer_id == transfer_id).order_by(TimelineEntry.id)
        ).all()
        session.expunge_all()  # keep the loaded values after the reader rolls back
        return transfer, list(timeline)


def events_of(database: Database, transfer_id: str) -> list[str]:
    from services.transfer.models import outbox

    with database.reader() as session:
        rows = session.execute(
            select(outbox.table.c.event_type)
            .where(outbox.table.c.subject == transfer_id)
            .order_by(outbox.table.c.seq)
        ).all()
        return [row[0] for row in rows]


def audits_of(database: Database, transfer_id: str) -> list[tuple[str, str, str, str | None]]:
    """(actor, role, action, request id) of the audit rows about a transfer, in order written."""
    from services.transfer.models import audit_log

    with database.reader() as session:
        rows = session.execute(
            select(audit_log.c.actor, audit_log.c.actor_role, audit_log.c.action, audit_log.c.request_id)
            .where(audit_log.c.object_type == "transfer", audit_log.c.object_id == transfer_id)
            .order_by(audit_log.c.at, audit_log.c.id)
        ).all()
        return [tuple(row) for row in rows]
