"""Deterministic Temporal workflows of the transfer service: no I/O, no clocks, no SQL, no pika.

Activities are called by name so that this module never imports their SQLAlchemy code.
"""

# No `from __future__ import annotations`: the sandbox re-runs this module for every workflow run,
# and `workflow.defn` resolves each handler's hints; real annotations spare evaluating strings.

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Imported by full name: `from services.transfer import domain` would find the sandbox's own
    # copy of the package and re-run domain.py (and search_attributes.py) for every workflow run.
    import services.transfer.domain as domain
    import services.transfer.search_attributes as search_attributes
    from services.transfer.messages import (
        AuditItem,
        CancelRequest,
        DecisionRequest,
        EventItem,
        LetterRequest,
        MoveRequest,
        Plan,
        Reissue,
        ReportRequest,
        ResubmitRequest,
        StatusView,
        StepRecord,
        TimelineItem,
        TransferInput,
    )
    from shared.contracts import transfer as events
    from shared.errors import Conflict

# Short: a projection write takes milliseconds, and a dead worker's attempt is retried after this.
PROJECTION_TIMEOUT = timedelta(seconds=10)
PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=20)
)
# Registration may be down for a while: keep retrying; only its refusals are final.
MOVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    # Short: a member waiting at the counter should see the move soon after registration recovers.
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["MoveRejected"],
)

Action = DecisionRequest | ResubmitRequest | CancelRequest | ReportRequest


def conflict(error: Conflict) -> ApplicationError:
    # The API turns this type into 409; non-retryable so a failed update handler is final.
    return ApplicationError(error.message, type="Conflict", non_retryable=True)


# One workflow per transfer (id `transfer-<id>`): the approval chain, deadlines, letter, completion.
@workflow.defn
class TransferWorkflow:
    @workflow.init
    def __init__(self, transfer: TransferInput) -> None:
        self.input = transfer
        self.plan: Plan = transfer.plan
        self.dues_paid_through = transfer.dues_paid_through
        self.process = domain.Process(chain=list(transfer.plan.chain))
        self.action: Action | None = None
        self.submitted = 0
        self.applied = 0
        self.refusals: dict[int, str] = {}
        self.step_no = 0
        self.overdue = False
        self.due_at: datetime | None = None
        # Set by the "lean-history" patch: the search attribute values as last written, so a step
        # upserts only what it changed.
        self.lean = False
        self.search_values: dict[str, str | None] = {}
        # A re-issue run starts with the letter about to be issued; its step keys name the run, so
        # the projection's applied-step dedup never mistakes them for an earlier run's steps.
        self.step_prefix = ""
        if transfer.reissue is not None:
            self.process = domain.Process(chain=list(transfer.plan.chain), status=domain.LETTER_ISSUED)
            self.step_prefix = f"run-{workflow.info().run_id}-"

    @workflow.run
    async def run(self, transfer: TransferInput) -> str:
        self.due_at = workflow.now() + timedelta(seconds=transfer.overdue_after_seconds)
        # v3, one patch for three changes that shorten every history (fewer events, and fewer
        # visibility writes on the server): the workflow upserts only the search attributes its
        # start did not set; projection steps are local activities without a patch marker of
        # their own; a step upserts only the search attributes it changed. Older histories
        # replay below.
        if workflow.patched("lean-history"):
            self.lean = True
            started = workflow.info().typed_search_attributes
            self.search_values = {key.name: started.get(key) or None for key in search_attributes.ALL}
            view = self._view()
            wanted = self._search_wanted(view.status, view.stage_org)
            self._upsert_changed(
                {key: value for key, value in wanted.items() if self.search_values[key.name] is None}
            )
        # v2: the workflow names its sending branch itself, so transfers started without search
        # attributes can still be found by branch.
        elif workflow.patched("sending-branch-attribute"):
            workflow.upsert_search_attributes(
                [search_attributes.SENDING_BRANCH.value_set(transfer.from_branch_code)]
            )
        if transfer.reissue is not None:  # never set in runs before re-issue existed
            await self._reissue(transfer.reissue)
        while domain.is_open(self.process.status):
            if self.process.stage is not None:
                await self._wait_at_stage()
            elif self.process.status == domain.LETTER_ISSUED:
                await self._wait_for_report_in()
            else:  # returned: wait for a resubmit or a cancel, however long it takes
                await workflow.wait_condition(lambda: self.action is not None)
            if self.action is not None:
                try:
                    await self._apply(self.action)
                except Conflict as error:
                    # The state moved under the action (e.g. the letter lapsed as the report came).
                    self.refusals[self.submitted] = error.message
                self.action = None
                self.applied += 1
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.process.status

    # --- queries and updates ----------------------------------------------------------------

    @workflow.query
    def status(self) -> StatusView:
        return self._view()

    @workflow.update
    async def decide(self, request: DecisionRequest) -> StatusView:
        self._check(lambda: self.process.check_decide(request.expected_stage))
        return await self._submit(request)

    @decide.validator
    def _validate_decide(self, request: DecisionRequest) -> None:
        if request.decision not in domain.DECISIONS:
            raise ApplicationError(f"unknown decision {request.decision}", type="InvalidInput")
        self._check(lambda: self.process.check_decide(request.expected_stage))

    @workflow.update
    async def resubmit(self, request: ResubmitRequest) -> StatusView:
        self._check(self.process.check_resubmit)
        return await self._submit(request)

    @resubmit.validator
    def _validate_resubmit(self, request: ResubmitRequest) -> None:
        self._check(self.process.check_resubmit)

    @workflow.update
    async def cancel(self, request: CancelRequest) -> StatusView:
        self._check(self.process.check_cancel)
        return await self._submit(request)

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        self._check(self.process.check_cancel)

    @workflow.update
    async def report(self, request: ReportRequest) -> StatusView:
        self._check(self.process.check_report)
        return await self._submit(request)

    @report.validator
    def _validate_report(self, request: ReportRequest) -> None:
        self._check(self.process.check_report)

    def _check(self, rule: object) -> None:
        # Validators of updates in one activation all run before any handler: the handler
        # checks again, and a second action while one is being applied is refused.
        if self.action is not None:
            raise ApplicationError("another action on this transfer is in progress", type="Conflict")
        try:
            rule()  # type: ignore[operator]
        except Conflict as error:
            raise conflict(error) from None

    async def _submit(self, action: Action) -> StatusView:
        self.action = action
        self.submitted += 1
        ticket = self.submitted
        await workflow.wait_condition(lambda: self.applied >= ticket)
        if ticket in self.refusals:
            raise ApplicationError(self.refusals.pop(ticket), type="Conflict", non_retryable=True)
        return self._view()

    def _view(self) -> StatusView:
        stage = self.process.stage
        return StatusView(self.process.status, stage, self.plan.stage_orgs.get(stage) if stage else None)

    # --- waiting ----------------------------------------------------------------------------

    async def _wait_for_action(self, timeout: timedelta) -> bool:
        if timeout <= timedelta(0):
            return self.action is not None
        try:
            await workflow.wait_condition(lambda: self.action is not None, timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def _wait_at_stage(self) -> None:
        remind_after = timedelta(seconds=self.input.remind_after_seconds)
        overdue_after = timedelta(seconds=self.input.overdue_after_seconds)
        stage = self.process.stage
        assert stage is not None
        if remind_after < overdue_after:
            if await self._wait_for_action(remind_after):
                return
            await self._record(self.process.status, events=[EventItem(events.STAGE_REMINDER)], label="remind")
            waited = remind_after
        else:
            waited = timedelta(0)
        if await self._wait_for_action(overdue_after - waited):
            return
        self.overdue = True
        escalate_to = self.plan.escalation_orgs.get(stage)
        await self._record(
            self.process.status,
            events=[EventItem(events.STAGE_OVERDUE, {"escalate_to_org_code": escalate_to})],
            label="overdue",
        )
        await workflow.wait_condition(lambda: self.action is not None)

    async def _wait_for_report_in(self) -> None:
        validity = timedelta(seconds=self.plan.letter_validity_seconds)
        remind_before = timedelta(seconds=self.input.letter_remind_before_seconds)
        waited = timedelta(0)
        if timedelta(0) < remind_before < validity:
            if await self._wait_for_action(validity - remind_before):
                return
            await self._record(
                domain.LETTER_ISSUED, events=[EventItem(events.LETTER_EXPIRING)], label="expiring"
            )
            waited = validity - remind_before
        if await self._wait_for_action(validity - waited):
            return
        self.process.expire()
        await self._record(
            domain.EXPIRED,
            events=[EventItem(events.EXPIRED)],
            timeline=[TimelineItem("expire", "system")],
            label="expired",
            finished=True,
        )

    # --- applying actions -------------------------------------------------------------------

    async def _apply(self, action: Action) -> None:
        if isinstance(action, DecisionRequest):
            await self._apply_decision(action)
        elif isinstance(action, ResubmitRequest):
            await self._apply_resubmit(action)
        elif isinstance(action, CancelRequest):
            stage = self.process.stage
            self.process.cancel()
            await self._record(
                domain.CANCELLED,
                events=[EventItem(events.CANCELLED, {"reason": action.reason, "actor": action.actor})],
                timeline=[TimelineItem("cancel", action.actor, stage, reason=action.reason)],
                label="cancel",
                finished=True,
                audit=action.audit,
            )
        else:
            await self._complete(action)

    async def _apply_decision(self, decision: DecisionRequest) -> None:
        stage = self.process.stage
        assert stage is not None
        org = self.plan.stage_orgs[stage]
        status = self.process.decide(decision.decision)
        entry = TimelineItem(decision.decision, decision.actor, stage, org, decision.reason)
        decided = EventItem(
            events.STAGE_DECIDED,
            {
                "decided_stage": stage,
                "decided_org_code": org,
                "decision": decision.decision,
                "actor": decision.actor,
            },
        )
        if decision.decision == "reject":
            rejected = EventItem(
                events.REJECTED,
                {"rejected_stage": stage, "reason": decision.reason or "", "actor": decision.actor},
            )
            await self._record(
                status,
                events=[decided, rejected],
                timeline=[entry],
                label="reject",
                finished=True,
                audit=decision.audit,
            )
        elif decision.decision == "return":
            returned = EventItem(
                events.RETURNED,
                {"returned_stage": stage, "reason": decision.reason or "", "actor": decision.actor},
            )
            await self._record(
                status, events=[decided, returned], timeline=[entry], label="return", audit=decision.audit
            )
        elif status == domain.LETTER_ISSUED:
            await self._record(
                status,
                events=[decided, EventItem(events.LETTER_ISSUED)],
                timeline=[entry, self._letter_entry()],
                letter=self._letter(),
                label="letter",
                audit=decision.audit,
            )
        else:
            await self._record(
                status, events=[decided], timeline=[entry], label=f"approve-{stage}", audit=decision.audit
            )

    def _letter(self) -> LetterRequest:
        valid_until = domain.local_date(workflow.now() + timedelta(seconds=self.plan.letter_validity_seconds))
        return LetterRequest(self.plan.letter_county, valid_until.isoformat(), self.dues_paid_through)

    def _letter_entry(self) -> TimelineItem:
        return TimelineItem("issue_letter", "system", stage=None, org_code=self.plan.letter_county)

    async def _reissue(self, reissue: Reissue) -> None:
        """A new letter (new serial, validity from now) for an expired transfer; no approvals."""
        await self._record(
            domain.LETTER_ISSUED,
            events=[EventItem(events.LETTER_ISSUED, {"reissued": True, "actor": reissue.actor})],
            timeline=[
                TimelineItem(
                    "reissue", reissue.actor, org_code=self.input.from_branch_code, reason=reissue.reason
                ),
                self._letter_entry(),
            ],
            letter=self._letter(),
            label="reissue",
        )

    async def _apply_resubmit(self, request: ResubmitRequest) -> None:
        self.process.check_resubmit()
        self.plan = request.plan
        if request.dues_paid_through:
            self.dues_paid_through = request.dues_paid_through
        status = self.process.resubmit(request.plan.chain)
        await self._record(
            status,
            events=[EventItem(events.RESUBMITTED, {"reason": request.reason, "actor": request.actor})],
            timeline=[TimelineItem("resubmit", request.actor, reason=request.reason)],
            label="resubmit",
            plan=request.plan,
            audit=request.audit,
        )

    async def _complete(self, report: ReportRequest) -> None:
        self.process.report()
        await self._record(
            domain.LETTER_ISSUED,
            events=[EventItem(events.REPORTED_IN, {"actor": report.actor})],
            timeline=[TimelineItem("report", report.actor, org_code=self.plan.to_branch_code)],
            label="report",
            audit=report.audit,
        )
        move = MoveRequest(self.input.transfer_id, self.input.member_id, self.plan.to_branch_code)
        try:
            await workflow.execute_activity(
                "move_relationship",
                move,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=MOVE_RETRY,
                result_type=str,
            )
        except ActivityError as error:
            # Compensation: a refused move ends the transfer visibly failed, never half-done.
            reason = str(error.cause.message if isinstance(error.cause, ApplicationError) else error)
            self.process.finish(moved=False)
            await self._record(
                domain.FAILED,
                events=[EventItem(events.FAILED, {"reason": reason})],
                timeline=[TimelineItem("fail", "system", reason=reason)],
                label="failed",
                finished=True,
                failure_reason=reason,
            )
            return
        self.process.finish(moved=True)
        await self._record(
            domain.COMPLETED,
            events=[EventItem(events.COMPLETED, {"completed_at": workflow.now().isoformat()})],
            timeline=[TimelineItem("complete", "system", org_code=self.plan.to_branch_code)],
            label="complete",
            finished=True,
            receipt=True,
        )

    # --- the projection ---------------------------------------------------------------------

    async def _record(
        self,
        status: str,
        *,
        label: str,
        events: list[EventItem] | None = None,
        timeline: list[TimelineItem] | None = None,
        letter: LetterRequest | None = None,
        plan: Plan | None = None,
        finished: bool = False,
        failure_reason: str | None = None,
        receipt: bool = False,
        audit: AuditItem | None = None,
    ) -> None:
        """Write one transition to the projection and outbox (an idempotent activity)."""
        now = workflow.now()
        stage = domain.stage_of(status)
        if label in ("remind", "overdue", "expiring"):
            pass  # the stage and its due time are unchanged
        elif stage is not None:
            self.overdue = False
            self.due_at = now + timedelta(seconds=self.input.overdue_after_seconds)
        else:
            self.overdue = False
            self.due_at = None
        stage_org = self.plan.stage_orgs.get(stage) if stage else None
        self.step_no += 1
        step = StepRecord(
            transfer_id=self.input.transfer_id,
            step_key=f"{self.step_prefix}{self.step_no:04d}-{label}",
            at=now.isoformat(),
            status=status,
            stage=stage,
            stage_org=stage_org,
            due_at=self.due_at.isoformat() if self.due_at else None,
            overdue=self.overdue,
            events=events or [],
            timeline=timeline or [],
            letter=letter,
            plan=plan,
            finished=finished,
            failure_reason=failure_reason,
            receipt=receipt,
            audit=audit,
        )
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
