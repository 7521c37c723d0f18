"""Synchronous activities of the transfer service (run on the worker's thread pool); all idempotent."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.transfer import projection
from services.transfer.clients import MoveRejected, RelationshipMover
from services.transfer.messages import MoveRequest, StepRecord
from services.transfer.unit_of_work import ProjectionUnitOfWork
from shared.db import Database
from shared.uow import Actor


class TransferActivities:
    """Activities bound to their collaborators, so tests can pass their own registration."""

    def __init__(self, database: Database, registration: RelationshipMover) -> None:
        self.database = database
        self.registration = registration

    @activity.defn(name="record_step")
    def record_step(self, step: StepRecord) -> bool:
        """Apply one transition to the projection, with its events and the audit of the action
        that caused it, in one transaction; False if this step was already applied."""
        with ProjectionUnitOfWork(self.database) as uow:
            try:
                transfer = projection.apply_step(uow.session, step)
            except projection.MissingProjection as error:  # raising rolls the claim back
                raise ApplicationError(str(error), non_retryable=True) from error
            if transfer is None:
                return False
            for event in step.events:
                uow.emit(event.type, transfer.id, projection.step_event_data(transfer, event, step.org_names))
            if step.audit is not None:
                who = step.audit
                # 代办 is audited as such: the decision and the org it was taken for.
                acted_for = next(
                    (item.acted_for_org_code for item in step.timeline if item.acted_for_org_code), None
                )
                # The caller who asked for the action, named by the step: the worker acts for them.
                uow.audit(
                    Actor(who.actor, who.actor_role),
                    who.action,
                    "transfer",
                    transfer.id,
                    detail=f"acted for {acted_for} (overdue stage)" if acted_for else None,
                    request_id=who.request_id,
                )
            uow.commit()
            return True

    @activity.defn(name="move_relationship")
    def move_relationship(self, move: MoveRequest) -> str:
        """Move the relationship in registration; idempotent there by transfer id."""
        try:
            member = self.registration.move_relationship(
                move.member_id, move.to_branch_code, move.transfer_id
            )
        except MoveRejected as error:
            raise ApplicationError(str(error), type="MoveRejected", non_retryable=True) from error
        return str(member.get("branch_code", move.to_branch_code))

    def all(self) -> list[Any]:
        return [self.record_step, self.move_relationship]
