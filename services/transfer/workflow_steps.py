"""How TransferWorkflow writes a step: the projection's activity and the search attributes.

A mixin of the workflow, imported passed through the sandbox (stateless: its methods keep their
state on the workflow instance), so the sandbox does not re-run it for every transfer. Only
workflow-safe calls: `workflow.now()`, `workflow.patched`, activities and upserts.
"""

# No `from __future__ import annotations`, as in workflows.py.

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

import services.transfer.domain as domain
import services.transfer.search_attributes as search_attributes
from services.transfer.messages import Plan, StepRecord, TransferInput, Transition

# Short: a projection write takes milliseconds, and a dead worker's attempt is retried after this.
PROJECTION_TIMEOUT = timedelta(seconds=10)
PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=20)
)


class StepWriter:
    """Numbers, times and writes the workflow's transitions; the state it reads is the workflow's."""

    input: TransferInput
    plan: Plan
    step_no: int
    step_prefix: str
    overdue: bool
    due_at: datetime | None
    lean: bool
    search_values: dict[str, str | None]

    # --- the projection ---------------------------------------------------------------------

    async def _record(self, transition: Transition) -> None:
        """Write one transition to the projection and outbox (an idempotent activity)."""
        now = workflow.now()
        stage = domain.stage_of(transition.status)
        self._move_deadline(transition, stage, now)
        stage_org = self.plan.stage_orgs.get(stage) if stage else None
        await self._write_step(self._step(transition, stage, stage_org, now))
        self._upsert_search(transition.status, stage_org)

    def _move_deadline(self, transition: Transition, stage: str | None, now: datetime) -> None:
        """A new stage gets its own due time and is not overdue; no stage has none."""
        if transition.keeps_deadline:
            return
        self.overdue = False
        self.due_at = now + timedelta(seconds=self.input.overdue_after_seconds) if stage is not None else None

    def _step(
        self, transition: Transition, stage: str | None, stage_org: str | None, now: datetime
    ) -> StepRecord:
        self.step_no += 1
        return StepRecord(
            transfer_id=self.input.transfer_id,
            step_key=f"{self.step_prefix}{self.step_no:04d}-{transition.label}",
            at=now.isoformat(),
            status=transition.status,
            stage=stage,
            stage_org=stage_org,
            due_at=self.due_at.isoformat() if self.due_at else None,
            overdue=self.overdue,
            events=transition.events,
            timeline=transition.timeline,
            letter=transition.letter,
            plan=transition.plan,
            finished=transition.finished,
            failure_reason=transition.failure_reason,
            receipt=transition.receipt,
            audit=transition.audit,
            org_names=dict(self.plan.org_names),
        )

    async def _write_step(self, step: StepRecord) -> None:
        # Added after v1: the projection write is a local activity. It takes milliseconds and is
        # idempotent by step key, so it runs inside the workflow task that decided it: no
        # schedule/start/complete round trip through the server for every step, and a decision's
        # update completes in the same task. Runs begun before the patch keep normal activities.
        if self.lean or workflow.patched("record-step-local"):
            await workflow.execute_local_activity(
                "record_step",
                step,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
                result_type=bool,
            )
        else:
            await workflow.execute_activity(
                "record_step",
                step,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
                result_type=bool,
            )

    def _upsert_search(self, status: str, stage_org: str | None) -> None:
        if self.lean:
            self._upsert_changed(self._search_wanted(status, stage_org))
            return
        # Before "lean-history", every step upserted all three.
        workflow.upsert_search_attributes(
            [
                search_attributes.TRANSFER_STATUS.value_set(status),
                search_attributes.RECEIVING_BRANCH.value_set(self.plan.to_branch_code),
                search_attributes.CURRENT_STAGE_ORG.value_set(stage_org)
                if stage_org
                else search_attributes.CURRENT_STAGE_ORG.value_unset(),
            ]
        )

    def _search_wanted(self, status: str, stage_org: str | None) -> dict[SearchAttributeKey[str], str | None]:
        return {
            search_attributes.TRANSFER_STATUS: status,
            search_attributes.SENDING_BRANCH: self.input.from_branch_code,
            search_attributes.RECEIVING_BRANCH: self.plan.to_branch_code,
            search_attributes.CURRENT_STAGE_ORG: stage_org,
        }

    def _upsert_changed(self, wanted: dict[SearchAttributeKey[str], str | None]) -> None:
        """Upsert the attributes whose value differs from the last one written (None unsets)."""
        changed = {key: value for key, value in wanted.items() if self.search_values.get(key.name) != value}
        if not changed:
            return
        workflow.upsert_search_attributes(
            [key.value_set(value) if value else key.value_unset() for key, value in changed.items()]
        )
        self.search_values.update({key.name: value for key, value in changed.items()})
