"""TransferWorkflow on a real Temporal dev server, writing its projection to the real database."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Replayer

from services.transfer import domain
from services.transfer import search_attributes as keys
from services.transfer.messages import (
    AuditItem,
    CancelRequest,
    DecisionRequest,
    Reissue,
    ReportRequest,
    ResubmitRequest,
    TransferInput,
)
from services.transfer.workflows import TransferWorkflow
from tests.workflows.transfer_support import (
    RegistrationDouble,
    audits_of,
    events_of,
    insert_projection,
    path_of,
    projection,
    route_for,
    start_transfer,
    transfer_input,
    transfer_worker,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def database(migrated):
    return migrated("transfer")


@pytest.fixture
def settings(settings_for):
    return settings_for("transfer")


async def approve_all(handle, plan, audited: bool = False) -> None:
    for stage in plan.chain:
        who = (
            AuditItem(f"actor-{stage}", "branch_secretary", "decide:approve", f"req-{stage}")
            if audited
            else None
        )
        view = await handle.execute_update(
            TransferWorkflow.decide,
            DecisionRequest("approve", f"actor-{stage}", expected_stage=stage, audit=who),
        )
    assert view.status == domain.LETTER_ISSUED


@pytest.mark.parametrize("route", ["same_county", "cross_county", "cross_province"])
async def test_approve_all_the_way_then_report_in_completes(
    temporal_env, task_queue, database, settings, route
):
    registration = RegistrationDouble()
    async with transfer_worker(temporal_env.client, task_queue, database, registration):
        handle, transfer_id, member_id, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings, route
        )
        expected_chain = ["sending_branch", "township", "receiving_branch"]
        if route != "same_county":
            expected_chain.insert(2, "county")
        if route == "cross_province":  # issue 21: the receiving side's county org department
            expected_chain.insert(3, "receiving_county")
        assert plan.chain == expected_chain
        await approve_all(handle, plan, audited=True)
        letter_row, _ = projection(database, transfer_id)
        assert letter_row.letter_number and letter_row.letter_number.startswith(plan.letter_county + "-")
        validity = settings.letter_validity[route]
        assert letter_row.letter_valid_until - letter_row.letter_issued_on == timedelta(days=validity.days)
        reporter = AuditItem(member_id, "member", "report", "req-report")
        view = await handle.execute_update(TransferWorkflow.report, ReportRequest(member_id, reporter))
        assert view.status == domain.COMPLETED
        assert await handle.result() == domain.COMPLETED
    assert registration.moves[transfer_id] == 1
    row, timeline = projection(database, transfer_id)
    assert (row.status, row.current_stage, row.open_member_id) == ("completed", None, None)
    assert row.receipt_at is not None
    actions = [entry.action for entry in timeline]
    assert actions == ["approve"] * len(plan.chain) + ["issue_letter", "report", "complete"]
    assert [entry.org_code for entry in timeline[: len(plan.chain)]] == [
        plan.stage_orgs[s] for s in plan.chain
    ]
    types = events_of(database, transfer_id)
    assert types.count("transfer.stage_decided.v1") == len(plan.chain)
    assert types[-3:] == ["transfer.letter_issued.v1", "transfer.reported_in.v1", "transfer.completed.v1"]
    # Each applied action is audited by the step that applied it, with who asked and their request.
    assert audits_of(database, transfer_id) == [
        *[(f"actor-{stage}", "branch_secretary", "decide:approve", f"req-{stage}") for stage in plan.chain],
        (member_id, "member", "report", "req-report"),
    ]


@pytest.mark.parametrize("reject_at", [0, 1, 2, 3])
async def test_reject_at_each_stage_ends_the_transfer(
    temporal_env, task_queue, database, settings, reject_at
):
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, _, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings
        )
        for stage in plan.chain[:reject_at]:
            await handle.execute_update(
                TransferWorkflow.decide, DecisionRequest("approve", "a", expected_stage=stage)
            )
        stage = plan.chain[reject_at]
        view = await handle.execute_update(
            TransferWorkflow.decide, DecisionRequest("reject", "secretary", "档案不全", expected_stage=stage)
        )
        assert view.status == domain.REJECTED
        assert await handle.result() == domain.REJECTED
    row, timeline = projection(database, transfer_id)
    assert row.status == "rejected" and row.open_member_id is None and row.finished_at is not None
    assert (timeline[-1].action, timeline[-1].stage, timeline[-1].reason) == ("reject", stage, "档案不全")
    assert events_of(database, transfer_id)[-1] == "transfer.rejected.v1"


async def test_return_then_resubmit_starts_again_at_the_sending_branch(
    temporal_env, task_queue, database, settings
):
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, member_id, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings
        )
        await handle.execute_update(
            TransferWorkflow.decide, DecisionRequest("approve", "s", expected_stage="sending_branch")
        )
        view = await handle.execute_update(
            TransferWorkflow.decide,
            DecisionRequest("return", "officer", "请补充说明", expected_stage="township"),
        )
        assert view.status == domain.RETURNED
        row, _ = projection(database, transfer_id)
        assert (row.status, row.current_stage) == ("returned", None)
        # A decision while returned is refused by the validator, synchronously.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(TransferWorkflow.decide, DecisionRequest("approve", "x"))
        assert refused.value.cause.type == "Conflict"
        view = await handle.execute_update(
            TransferWorkflow.resubmit, ResubmitRequest(member_id, plan, "已补充")
        )
        assert view.status == "pending_sending_branch"
        await approve_all(handle, plan)
    row, timeline = projection(database, transfer_id)
    assert row.status == domain.LETTER_ISSUED
    assert [e.action for e in timeline][:3] == ["approve", "return", "resubmit"]
    assert "transfer.returned.v1" in events_of(database, transfer_id)
    await handle.terminate("test over")


@pytest.mark.parametrize(
    "cancel_at",
    [
        "pending_sending_branch",
        "pending_township",
        "pending_county",
        "pending_receiving_county",
        "pending_receiving_branch",
        "returned",
        "letter_issued",
    ],
)
async def test_cancel_at_each_stage(temporal_env, task_queue, database, settings, cancel_at):
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, member_id, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings
        )
        status = (await handle.query(TransferWorkflow.status)).status
        while status != cancel_at:
            stage = domain.stage_of(status)
            decision = "return" if cancel_at == "returned" else "approve"
            status = (
                await handle.execute_update(
                    TransferWorkflow.decide, DecisionRequest(decision, "a", "r", stage)
                )
            ).status
        view = await handle.execute_update(TransferWorkflow.cancel, CancelRequest(member_id, "不调了"))
        assert view.status == domain.CANCELLED
        assert await handle.result() == domain.CANCELLED
        # Finished: a second cancel finds the workflow closed.
        with pytest.raises(Exception):  # noqa: B017 (closed workflows refuse updates with an RPC error)
            await handle.execute_update(TransferWorkflow.cancel, CancelRequest(member_id, "again"))
    row, timeline = projection(database, transfer_id)
    assert row.status == "cancelled" and row.open_member_id is None
    assert timeline[-1].action == "cancel"
    assert events_of(database, transfer_id)[-1] == "transfer.cancelled.v1"


async def test_wrong_stage_and_concurrent_decisions_are_refused(temporal_env, task_queue, database, settings):
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, member_id, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings
        )
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                TransferWorkflow.decide, DecisionRequest("approve", "a", expected_stage="county")
            )
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(TransferWorkflow.report, ReportRequest(member_id))
        # Five holders click at once: exactly one decision is applied.
        results = await asyncio.gather(
            *[
                handle.execute_update(
                    TransferWorkflow.decide,
                    DecisionRequest("approve", f"a{i}", expected_stage="sending_branch"),
                )
                for i in range(5)
            ],
            return_exceptions=True,
        )
        assert sum(not isinstance(r, Exception) for r in results) == 1
        assert (await handle.query(TransferWorkflow.status)).status == "pending_township"
        await handle.terminate("test over")
    _, timeline = projection(database, transfer_id)
    assert [e.action for e in timeline] == ["approve"]


async def test_decisions_accepted_together_are_applied_one_at_a_time(
    temporal_env, task_queue, database, settings
):
    """Five decisions wait for the worker, so its first task accepts them all at once: under the
    update lock the first applies and each other one, checked against the state it left, learns
    that its stage was already decided (the one-slot mailbox answered "in progress")."""
    handle, transfer_id, _, _ = await start_transfer(temporal_env.client, task_queue, database, settings)
    updates = [
        asyncio.create_task(
            handle.execute_update(
                TransferWorkflow.decide, DecisionRequest("approve", f"a{i}", expected_stage="sending_branch")
            )
        )
        for i in range(5)
    ]
    await asyncio.sleep(1.0)  # the updates reach the server before any worker polls
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        results = await asyncio.gather(*updates, return_exceptions=True)
        await handle.terminate("test over")
    refusals = [str(r.cause) for r in results if isinstance(r, WorkflowUpdateFailedError)]
    assert len(refusals) == 4 and sum(not isinstance(r, Exception) for r in results) == 1
    assert all("sending_branch stage is already decided" in refusal for refusal in refusals)
    _, timeline = projection(database, transfer_id)
    assert [e.action for e in timeline] == ["approve"]


async def test_stage_reminds_then_turns_overdue_and_escalates(
    temporal_env, task_queue, database, settings_for
):
    settings = settings_for(
        "transfer", stage_remind_after=timedelta(seconds=1), stage_overdue_after=timedelta(seconds=2)
    )
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, _, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings
        )
        for _ in range(100):
            row, _ = projection(database, transfer_id)
            if row.overdue:
                break
            await asyncio.sleep(0.1)
        assert row.overdue and row.current_stage == "sending_branch"
        types = events_of(database, transfer_id)
        assert types == ["transfer.stage_reminder.v1", "transfer.stage_overdue.v1"]
        # Deciding clears the flag; the next stage gets its own due time.
        await handle.execute_update(
            TransferWorkflow.decide, DecisionRequest("approve", "s", expected_stage="sending_branch")
        )
        row, _ = projection(database, transfer_id)
        assert (row.overdue, row.current_stage) == (False, "township")
        await handle.terminate("test over")


async def test_letter_expires_without_report_in(temporal_env, task_queue, database, settings_for):
    settings = settings_for(
        "transfer",
        letter_validity={
            "same_county": timedelta(seconds=2),
            "cross_county": timedelta(seconds=2),
            "cross_province": timedelta(seconds=2),
        },
        letter_remind_before=timedelta(seconds=1),
    )
    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle, transfer_id, _, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings, "same_county"
        )
        await approve_all(handle, plan)
        assert await handle.result() == domain.EXPIRED
    row, timeline = projection(database, transfer_id)
    assert row.status == "expired" and row.open_member_id is None
    assert events_of(database, transfer_id)[-2:] == ["transfer.letter_expiring.v1", "transfer.expired.v1"]


async def test_expired_letter_is_reissued_then_the_report_in_completes(
    temporal_env, task_queue, database, settings_for
):
    """docs/domain.md step 6: a new run of the same workflow id issues a new letter, no approvals."""
    short = timedelta(seconds=2)
    settings = settings_for(
        "transfer",
        letter_validity={"same_county": short, "cross_county": short, "cross_province": short},
        letter_remind_before=timedelta(seconds=1),
    )
    registration = RegistrationDouble()
    async with transfer_worker(temporal_env.client, task_queue, database, registration):
        handle, transfer_id, member_id, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings, "same_county"
        )
        await approve_all(handle, plan)
        assert await handle.result() == domain.EXPIRED
        expired, _ = projection(database, transfer_id)
        # What the service passes: the route's plan (a long validity here) and the dues as of today.
        again = TransferInput(
            transfer_id=transfer_id,
            member_id=member_id,
            from_branch_code=expired.from_branch_code,
            plan=dataclasses.replace(plan, letter_validity_seconds=timedelta(days=30).total_seconds()),
            dues_paid_through="2026-12",
            remind_after_seconds=settings.stage_remind_after.total_seconds(),
            overdue_after_seconds=settings.stage_overdue_after.total_seconds(),
            letter_remind_before_seconds=settings.letter_remind_before.total_seconds(),
            reissue=Reissue("secretary", "到期未报到"),
        )
        rerun = await temporal_env.client.start_workflow(
            TransferWorkflow.run, again, id=f"transfer-{transfer_id}", task_queue=task_queue
        )
        assert rerun.result_run_id != handle.result_run_id
        for _ in range(100):
            row, _ = projection(database, transfer_id)
            if row.status == domain.LETTER_ISSUED:
                break
            await asyncio.sleep(0.1)
        assert row.status == domain.LETTER_ISSUED and row.current_stage is None
        assert row.letter_number and row.letter_number != expired.letter_number
        assert row.letter_valid_until - row.letter_issued_on == timedelta(days=30)
        assert row.letter_dues_paid_through == "2026-12"
        # A decision has no stage to act on; the report-in works as on the first letter.
        with pytest.raises(WorkflowUpdateFailedError):
            await rerun.execute_update(TransferWorkflow.decide, DecisionRequest("approve", "x"))
        view = await rerun.execute_update(TransferWorkflow.report, ReportRequest(member_id))
        assert view.status == domain.COMPLETED
        assert await rerun.result() == domain.COMPLETED
        # The re-issue run replays on the current code too.
        history = await rerun.fetch_history()
        await Replayer(workflows=[TransferWorkflow]).replay_workflow(history)
    assert registration.moves[transfer_id] == 1
    row, timeline = projection(database, transfer_id)
    assert (row.status, row.open_member_id) == (domain.COMPLETED, None)
    actions = [entry.action for entry in timeline]
    assert actions[-6:] == ["issue_letter", "expire", "reissue", "issue_letter", "report", "complete"]
    assert timeline[-4].reason == "到期未报到" and timeline[-4].actor == "secretary"
    assert events_of(database, transfer_id)[-5:] == [
        "transfer.letter_expiring.v1",
        "transfer.expired.v1",
        "transfer.letter_issued.v1",
        "transfer.reported_in.v1",
        "transfer.completed.v1",
    ]


async def test_refused_move_fails_the_transfer_visibly(temporal_env, task_queue, database, settings):
    registration = RegistrationDouble()
    async with transfer_worker(temporal_env.client, task_queue, database, registration):
        handle, transfer_id, member_id, plan = await start_transfer(
            temporal_env.client, task_queue, database, settings, "same_county"
        )
        registration.refuse.add(member_id)
        await approve_all(handle, plan)
        view = await handle.execute_update(TransferWorkflow.report, ReportRequest(member_id))
        assert view.status == domain.FAILED
    row, timeline = projection(database, transfer_id)
    assert row.status == "failed" and "branch_code does not exist" in row.failure_reason
    assert row.open_member_id is None
    assert events_of(database, transfer_id)[-1] == "transfer.failed.v1"
    assert registration.moves[transfer_id] == 0


async def test_record_step_is_idempotent(database, settings):
    """A retried activity (same step key) changes the projection and the outbox once."""
    from services.transfer.activities import TransferActivities
    from services.transfer.commands import build_plan
    from services.transfer.messages import EventItem, StepRecord, TimelineItem
    from shared.db import utcnow

    route = route_for("cross_county")
    plan = build_plan(settings, route, path_of(route.receiving))
    transfer_id, _ = insert_projection(database, route, plan)
    activities = TransferActivities(database, RegistrationDouble())
    step = StepRecord(
        transfer_id,
        "0001-approve",
        utcnow().isoformat(),
        "pending_township",
        "township",
        plan.stage_orgs["township"],
        events=[
            EventItem(
                "transfer.stage_decided.v1",
                {
                    "decided_stage": "sending_branch",
                    "decided_org_code": "X",
                    "decision": "approve",
                    "actor": "a",
                },
            )
        ],
        timeline=[TimelineItem("approve", "a", "sending_branch", route.sending.branch)],
    )
    assert activities.record_step(step) is True
    assert activities.record_step(step) is False
    _, timeline = projection(database, transfer_id)
    assert len(timeline) == 1
    assert events_of(database, transfer_id) == ["transfer.stage_decided.v1"]


async def test_a_letter_issued_after_midnight_in_beijing_is_dated_and_numbered_there(database, settings):
    """16:30 UTC on New Year's Eve is 00:30 on 1 January in Beijing: the letter is of the new year."""
    from services.transfer.activities import TransferActivities
    from services.transfer.commands import build_plan
    from services.transfer.messages import LetterRequest, StepRecord

    route = route_for("cross_county")
    plan = build_plan(settings, route, path_of(route.receiving))
    transfer_id, _ = insert_projection(database, route, plan)
    step = StepRecord(
        transfer_id,
        "0004-letter",
        "2026-12-31T16:30:00+00:00",
        domain.LETTER_ISSUED,
        letter=LetterRequest(plan.letter_county, "2027-03-31", "2026-12"),
    )
    assert TransferActivities(database, RegistrationDouble()).record_step(step) is True
    row, _ = projection(database, transfer_id)
    assert row.letter_issued_on.isoformat() == "2027-01-01"
    assert row.letter_number.startswith(f"{plan.letter_county}-2027-")


async def upserted_keys(handle) -> list[set[str]]:
    """The search attribute names of each upsert in the history, in order."""
    history = await handle.fetch_history()
    return [
        set(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for event in history.events
        if event.HasField("upsert_workflow_search_attributes_event_attributes")
    ]


@pytest.mark.parametrize("started_with_attributes", [False, True])
async def test_search_attributes_follow_the_transfer_and_only_changes_are_upserted(
    temporal_env, task_queue, database, settings, started_with_attributes
):
    from services.transfer.commands import build_plan

    route = route_for("cross_province")
    plan = build_plan(settings, route, path_of(route.receiving))
    transfer_id, member_id = insert_projection(database, route, plan)
    first_org = plan.stage_orgs[plan.chain[0]]
    started = (
        TypedSearchAttributes(
            [
                SearchAttributePair(keys.TRANSFER_STATUS, domain.stage_status(plan.chain[0])),
                SearchAttributePair(keys.SENDING_BRANCH, route.sending.branch),
                SearchAttributePair(keys.RECEIVING_BRANCH, plan.to_branch_code),
                SearchAttributePair(keys.CURRENT_STAGE_ORG, first_org),
            ]
        )
        if started_with_attributes
        else None
    )

    async def attributes() -> dict[str, str | None]:
        found = (await handle.describe()).typed_search_attributes
        return {key.name: found.get(key) for key in keys.ALL}

    async with transfer_worker(temporal_env.client, task_queue, database, RegistrationDouble()):
        handle = await temporal_env.client.start_workflow(
            TransferWorkflow.run,
            transfer_input(settings, transfer_id, member_id, route, plan),
            id=f"transfer-{transfer_id}",
            task_queue=task_queue,
            search_attributes=started,
        )
        for _ in range(100):  # until the first workflow task has run
            if (await attributes())[keys.TRANSFER_STATUS.name]:
                break
            await asyncio.sleep(0.05)
        for stage in plan.chain:
            assert await attributes() == {
                keys.TRANSFER_STATUS.name: domain.stage_status(stage),
                keys.SENDING_BRANCH.name: route.sending.branch,
                keys.RECEIVING_BRANCH.name: plan.to_branch_code,
                keys.CURRENT_STAGE_ORG.name: plan.stage_orgs[stage],
            }
            await handle.execute_update(
                TransferWorkflow.decide, DecisionRequest("approve", "a", expected_stage=stage)
            )
        assert await attributes() == {
            keys.TRANSFER_STATUS.name: domain.LETTER_ISSUED,
            keys.SENDING_BRANCH.name: route.sending.branch,
            keys.RECEIVING_BRANCH.name: plan.to_branch_code,
            keys.CURRENT_STAGE_ORG.name: None,
        }
        await handle.execute_update(TransferWorkflow.report, ReportRequest(member_id))
        assert await handle.result() == domain.COMPLETED
        assert (await attributes())[keys.TRANSFER_STATUS.name] == domain.COMPLETED

    upserts = [names - {"TemporalChangeVersion"} for names in await upserted_keys(handle)]
    upserts = [names for names in upserts if names]
    status, stage_org = keys.TRANSFER_STATUS.name, keys.CURRENT_STAGE_ORG.name
    # One upsert per step that changed something: each approval moves the stage (the last one to
    # none: the letter is out), the completion sets the status; the report-in changes nothing.
    changes = [{status, stage_org}] * len(plan.chain) + [{status}]
    if started_with_attributes:
        assert upserts == changes
    else:  # the workflow sets at its start what the start did not
        assert upserts == [{key.name for key in keys.ALL}, *changes]
