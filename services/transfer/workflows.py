"""Deterministic Temporal workflows of the transfer service: no I/O, no clocks, no SQL, no pika.

Activities are called by name so that this module never imports their SQLAlchemy code.
"""

# No `from __future__ import annotations`: the sandbox re-runs this module for every workflow run,
# and `workflow.defn` resolves each handler's hints; real annotations spare evaluating strings.

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Imported by full name: `from services.transfer import domain` would find the sandbox's own
    # copy of the package and re-run domain.py (and search_attributes.py) for every workflow run.
    import services.transfer.domain as domain
    import services.transfer.search_attributes as search_attributes
    from services.transfer.messages import (
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
        TimelineItem,
        TransferInput,
        Transition,
    )
    from services.transfer.workflow_steps import StepWriter
    from shared.contracts import transfer as events
    from shared.errors import Conflict

# Registration may be down for a while: keep retrying; only its refusals are final.
MOVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    # Short: a member waiting at the counter should see the move soon after registration recovers.
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["MoveRejected"],
)

Action = DecisionRequest | ResubmitRequest | CancelRequest | ReportRequest


# v4: updates apply their action themselves, one at a time under a lock, instead of leaving it in
# a one-slot mailbox for the main loop (temporalio/samples-python message_passing/
# safe_message_handlers). Runs begun before it keep the mailbox.
UPDATE_LOCK_PATCH = "update-handlers-lock"

# v5: a chain's stage kinds are data (domain.STAGE_KINDS, settings.CHAINS), so a cross-province
# chain gains the receiving county. Runs begun before it keep a chain of the four kinds they
# knew, even when a resubmit brings a plan made with the new chains (decision 0015).
STAGE_CHAINS_PATCH = "stage-chains-as-data"


def conflict(error: Conflict) -> ApplicationError:
    # The API turns this type into 409; non-retryable so a failed update handler is final.
    return ApplicationError(error.message, type="Conflict", non_retryable=True)


# One workflow per transfer (id `transfer-<id>`): the approval chain, deadlines, letter, completion.
@workflow.defn
class TransferWorkflow(StepWriter):
    @workflow.init
    def __init__(self, transfer: TransferInput) -> None:
        self.input = transfer
        self.plan: Plan = transfer.plan
        self.dues_paid_through = transfer.dues_paid_through
        self.process = domain.Process(chain=list(transfer.plan.chain))
        # Before v4, the mailbox: the action an update left for the main loop, and its tickets.
        self.action: Action | None = None
        self.submitted = 0
        self.applied = 0
        self.refusals: dict[int, str] = {}
        # v4: handlers apply under `lock`; `applying` while one does; `generation` counts the
        # actions applied, so the main loop sees that one came while it waited.
        self.locked = workflow.patched(UPDATE_LOCK_PATCH)
        # Asked at the start, so that a run begun before v5 answers False for its whole life.
        self.chains_as_data = workflow.patched(STAGE_CHAINS_PATCH)
        self.lock = asyncio.Lock()
        self.applying = False
        self.generation = 0
        self.mark = 0
        self.ready = False
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
        self.ready = True  # v4 handlers wait for this: the re-issued letter comes first
        while domain.is_open(self.process.status):
            self.mark = self.generation
            if self.process.stage is not None:
                await self._wait_at_stage()
            elif self.process.status == domain.LETTER_ISSUED:
                await self._wait_for_report_in()
            else:  # returned: wait for a resubmit or a cancel, however long it takes
                await workflow.wait_condition(self._arrived)
            if self.action is not None:  # only before v4: apply what the mailbox holds
                await self._apply_from_mailbox(self.action)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.process.status

    # --- queries and updates ----------------------------------------------------------------

    @workflow.query
    def status(self) -> StatusView:
        return self._view()

    @workflow.update
    async def decide(self, request: DecisionRequest) -> StatusView:
        rule = lambda: self.process.check_decide(request.expected_stage)  # noqa: E731
        return await self._handle(rule, request, lambda: self._apply_decision(request))

    @decide.validator
    def _validate_decide(self, request: DecisionRequest) -> None:
        if request.decision not in domain.DECISIONS:
            raise ApplicationError(f"unknown decision {request.decision}", type="InvalidInput")
        self._check(lambda: self.process.check_decide(request.expected_stage))

    @workflow.update
    async def resubmit(self, request: ResubmitRequest) -> StatusView:
        return await self._handle(self.process.check_resubmit, request, lambda: self._apply_resubmit(request))

    @resubmit.validator
    def _validate_resubmit(self, request: ResubmitRequest) -> None:
        self._check(self.process.check_resubmit)

    @workflow.update
    async def cancel(self, request: CancelRequest) -> StatusView:
        return await self._handle(self.process.check_cancel, request, lambda: self._apply_cancel(request))

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        self._check(self.process.check_cancel)

    @workflow.update
    async def report(self, request: ReportRequest) -> StatusView:
        return await self._handle(self.process.check_report, request, lambda: self._complete(request))

    @report.validator
    def _validate_report(self, request: ReportRequest) -> None:
        self._check(self.process.check_report)

    def _check(self, rule: Callable[[], None]) -> None:
        # A second action while one is being applied is refused at once: it must not wait behind
        # a report-in whose move registration is still retrying.
        if self.action is not None or self.applying:
            raise ApplicationError("another action on this transfer is in progress", type="Conflict")
        try:
            rule()
        except Conflict as error:
            raise conflict(error) from None

    async def _handle(
        self, rule: Callable[[], None], action: Action, apply: Callable[[], Awaitable[None]]
    ) -> StatusView:
        if not self.locked:
            # Before v4: validators of updates in one activation all run before any handler, so
            # the handler checks again, then leaves the action to the main loop.
            self._check(rule)
            return await self._submit(action)
        if not self.ready:
            await workflow.wait_condition(lambda: self.ready)
        async with self.lock:
            # Updates accepted together queue here; each checks the state the previous one left
            # (five holders approving at once: the first applies, the others find the stage gone).
            self._check(rule)
            self.applying = True
            try:
                await apply()
            except Conflict as error:
                raise conflict(error) from None
            finally:
                self.applying = False
            self.generation += 1
        return self._view()

    async def _submit(self, action: Action) -> StatusView:
        self.action = action
        self.submitted += 1
        ticket = self.submitted
        await workflow.wait_condition(lambda: self.applied >= ticket)
        if ticket in self.refusals:
            raise ApplicationError(self.refusals.pop(ticket), type="Conflict", non_retryable=True)
        return self._view()

    async def _apply_from_mailbox(self, action: Action) -> None:
        try:
            await self._apply(action)
        except Conflict as error:
            # The state moved under the action (e.g. the letter lapsed as the report came).
            self.refusals[self.submitted] = error.message
        self.action = None
        self.applied += 1

    def _view(self) -> StatusView:
        stage = self.process.stage
        return StatusView(self.process.status, stage, self.plan.stage_orgs.get(stage) if stage else None)

    # --- waiting ----------------------------------------------------------------------------

    def _arrived(self) -> bool:
        """An action came: left in the mailbox (before v4), or applied by its handler."""
        return self.action is not None or self.generation != self.mark

    async def _wait_for_action(self, timeout: timedelta) -> bool:
        if timeout <= timedelta(0):
            return self._arrived()
        try:
            await workflow.wait_condition(self._arrived, timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def _on_timeout(self, step: Callable[[], Awaitable[None]]) -> bool:
        """Take a deadline's step, unless an action came first; False if one did.

        From v4 the step waits for the handler applying an action, and is dropped if one was."""
        if not self.locked:
            await step()
            return True
        async with self.lock:
            if self._arrived():
                return False
            await step()
            return True

    async def _wait_at_stage(self) -> None:
        remind_after = timedelta(seconds=self.input.remind_after_seconds)
        overdue_after = timedelta(seconds=self.input.overdue_after_seconds)
        waited = timedelta(0)
        if remind_after < overdue_after:
            if await self._wait_for_action(remind_after) or not await self._on_timeout(self._remind):
                return
            waited = remind_after
        if await self._wait_for_action(overdue_after - waited) or not await self._on_timeout(
            self._turn_overdue
        ):
            return
        await workflow.wait_condition(self._arrived)

    async def _remind(self) -> None:
        await self._record(Transition(self.process.status, "remind", [EventItem(events.STAGE_REMINDER)]))

    async def _turn_overdue(self) -> None:
        stage = self.process.stage
        assert stage is not None
        self.overdue = True
        escalate_to = self.plan.escalation_orgs.get(stage)
        overdue = EventItem(events.STAGE_OVERDUE, {"escalate_to_org_code": escalate_to})
        await self._record(Transition(self.process.status, "overdue", [overdue]))

    async def _wait_for_report_in(self) -> None:
        validity = timedelta(seconds=self.plan.letter_validity_seconds)
        remind_before = timedelta(seconds=self.input.letter_remind_before_seconds)
        waited = timedelta(0)
        if timedelta(0) < remind_before < validity:
            if await self._wait_for_action(validity - remind_before) or not await self._on_timeout(
                self._warn_expiring
            ):
                return
            waited = validity - remind_before
        if await self._wait_for_action(validity - waited):
            return
        await self._on_timeout(self._expire)

    async def _warn_expiring(self) -> None:
        await self._record(Transition(domain.LETTER_ISSUED, "expiring", [EventItem(events.LETTER_EXPIRING)]))

    async def _expire(self) -> None:
        self.process.expire()
        expired = Transition(domain.EXPIRED, "expired", [EventItem(events.EXPIRED)], finished=True)
        expired.timeline = [TimelineItem("expire", "system")]
        await self._record(expired)

    # --- applying actions -------------------------------------------------------------------

    async def _apply(self, action: Action) -> None:
        """Before v4: the main loop applies the mailbox's action by its type."""
        if isinstance(action, DecisionRequest):
            await self._apply_decision(action)
        elif isinstance(action, ResubmitRequest):
            await self._apply_resubmit(action)
        elif isinstance(action, CancelRequest):
            await self._apply_cancel(action)
        else:
            await self._complete(action)

    async def _apply_cancel(self, request: CancelRequest) -> None:
        stage = self.process.stage
        self.process.cancel()
        cancelled = EventItem(events.CANCELLED, {"reason": request.reason, "actor": request.actor})
        entry = TimelineItem("cancel", request.actor, stage, reason=request.reason)
        await self._record(
            Transition(domain.CANCELLED, "cancel", [cancelled], [entry], finished=True, audit=request.audit)
        )

    async def _apply_decision(self, decision: DecisionRequest) -> None:
        stage = self.process.stage
        assert stage is not None
        org = self.plan.stage_orgs[stage]
        status = self.process.decide(decision.decision)
        if decision.dues_paid_through and decision.decision == "approve":
            self.dues_paid_through = decision.dues_paid_through  # the letter carries them
        entry = TimelineItem(decision.decision, decision.actor, stage, org, decision.reason)
        # Set only by issue 21's API: older histories' events keep exactly their data.
        named: dict[str, str | None] = {}
        if decision.actor_name is not None or (decision.audit and decision.audit.actor_org):
            named = {
                "actor_name": decision.actor_name,
                "actor_org_code": decision.audit.actor_org if decision.audit else None,
            }
        if decision.acted_for_org_code is not None:
            named["acted_for_org_code"] = decision.acted_for_org_code
            named["acted_for_org_name"] = decision.acted_for_org_name
            entry.acted_for_org_code = decision.acted_for_org_code
            entry.note = domain.acted_for_note(decision.acted_for_org_name or decision.acted_for_org_code)
        decided = EventItem(
            events.STAGE_DECIDED,
            {
                "decided_stage": stage,
                "decided_org_code": org,
                "decision": decision.decision,
                "actor": decision.actor,
                **named,
            },
        )
        step = Transition(status, f"approve-{stage}", [decided], [entry], audit=decision.audit)
        ended = {"reason": decision.reason or "", "actor": decision.actor, **named}
        if decision.decision == "reject":
            step.label, step.finished = "reject", True
            step.events.append(EventItem(events.REJECTED, {"rejected_stage": stage, **ended}))
        elif decision.decision == "return":
            step.label = "return"
            step.events.append(EventItem(events.RETURNED, {"returned_stage": stage, **ended}))
        elif status == domain.LETTER_ISSUED:
            step.label, step.letter = "letter", self._letter()
            step.events.append(EventItem(events.LETTER_ISSUED))
            step.timeline.append(self._letter_entry())
        await self._record(step)

    def _letter(self) -> LetterRequest:
        valid_until = domain.local_date(workflow.now() + timedelta(seconds=self.plan.letter_validity_seconds))
        return LetterRequest(self.plan.letter_county, valid_until.isoformat(), self.dues_paid_through)

    def _letter_entry(self) -> TimelineItem:
        return TimelineItem("issue_letter", "system", stage=None, org_code=self.plan.letter_county)

    async def _reissue(self, reissue: Reissue) -> None:
        """A new letter (new serial, validity from now) for an expired transfer; no approvals."""
        issued = EventItem(events.LETTER_ISSUED, {"reissued": True, "actor": reissue.actor})
        entry = TimelineItem(
            "reissue", reissue.actor, org_code=self.input.from_branch_code, reason=reissue.reason
        )
        step = Transition(domain.LETTER_ISSUED, "reissue", [issued], [entry, self._letter_entry()])
        step.letter = self._letter()
        await self._record(step)

    async def _apply_resubmit(self, request: ResubmitRequest) -> None:
        self.process.check_resubmit()
        self.plan = request.plan if self.chains_as_data else self._legacy_plan(request.plan)
        if request.dues_paid_through:
            self.dues_paid_through = request.dues_paid_through
        status = self.process.resubmit(self.plan.chain)
        resubmitted = EventItem(events.RESUBMITTED, {"reason": request.reason, "actor": request.actor})
        entry = TimelineItem("resubmit", request.actor, reason=request.reason)
        await self._record(
            Transition(status, "resubmit", [resubmitted], [entry], plan=self.plan, audit=request.audit)
        )

    @staticmethod
    def _legacy_plan(plan: Plan) -> Plan:
        """Before v5 a run knew four stage kinds: it keeps to them when a resubmit brings a plan
        made with the newer chains (the same plan when it has no other kind)."""
        chain = [stage for stage in plan.chain if stage in domain.LEGACY_STAGES]
        if chain == plan.chain:
            return plan
        return Plan(
            to_branch_code=plan.to_branch_code,
            route=plan.route,
            chain=chain,
            stage_orgs={stage: plan.stage_orgs[stage] for stage in chain},
            escalation_orgs={stage: plan.escalation_orgs.get(stage) for stage in chain},
            letter_validity_seconds=plan.letter_validity_seconds,
            letter_county=plan.letter_county,
            to_path=plan.to_path,
        )

    async def _complete(self, report: ReportRequest) -> None:
        self.process.report()
        reported = EventItem(events.REPORTED_IN, {"actor": report.actor})
        entry = TimelineItem("report", report.actor, org_code=self.plan.to_branch_code)
        await self._record(
            Transition(domain.LETTER_ISSUED, "report", [reported], [entry], audit=report.audit)
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
            failed = Transition(domain.FAILED, "failed", [EventItem(events.FAILED, {"reason": reason})])
            failed.timeline, failed.finished = [TimelineItem("fail", "system", reason=reason)], True
            failed.failure_reason = reason
            await self._record(failed)
            return
        self.process.finish(moved=True)
        completed = EventItem(events.COMPLETED, {"completed_at": workflow.now().isoformat()})
        entry = TimelineItem("complete", "system", org_code=self.plan.to_branch_code)
        await self._record(
            Transition(domain.COMPLETED, "complete", [completed], [entry], finished=True, receipt=True)
        )
