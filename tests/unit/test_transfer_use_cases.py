"""Transfer use cases on a fake unit of work: who may act, what the projection allows, what is
emitted and audited, and whether Temporal is asked at all. No database, no Temporal server."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from services.transfer import commands, domain
from services.transfer.clients import MemberInfo, ProcessNotStarted, Route
from services.transfer.messages import DecisionRequest, TransferInput
from services.transfer.models import TimelineEntry, Transfer
from services.transfer.settings import TransferSettings
from shared.auth import Principal
from shared.clock import local_today, month_of
from shared.contracts import transfer as events
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unavailable
from shared.uow import RaisedEvent, UnitOfWork

SENDING = domain.RouteSide("BR-S", "TW-S", "CO-S", None, "PR-S")
RECEIVING = domain.RouteSide("BR-R", "TW-R", "CO-R", None, "PR-R")
PATHS = {"BR-S": "/CN/PR-S/CO-S/TW-S/BR-S/", "BR-R": "/CN/PR-R/CO-R/TW-R/BR-R/"}


class FakeTransfers:
    """The repository in memory: the rows a committed unit of work left."""

    def __init__(self) -> None:
        self.rows: dict[str, Transfer] = {}
        self.timeline: list[TimelineEntry] = []

    def get(self, transfer_id: str) -> Transfer | None:
        return self.rows.get(transfer_id)

    def open_transfer_of(self, member_id: str, other_than: str | None = None) -> str | None:
        return next(
            (t.id for t in self.rows.values() if t.open_member_id == member_id and t.id != other_than), None
        )

    def add(
        self, transfer: Transfer, chain: list[str], stage_orgs: dict[str, str], entry: TimelineEntry
    ) -> None:
        self.rows[transfer.id] = transfer
        self.timeline.append(entry)

    def claim_for_reissue(self, transfer_id: str, member_id: str) -> Transfer | None:
        transfer = self.rows[transfer_id]
        if transfer.status != domain.EXPIRED or transfer.open_member_id is not None:
            return None
        transfer.open_member_id, transfer.finished_at = member_id, None
        return transfer

    def release_reissue(self, transfer_id: str) -> None:
        transfer = self.rows[transfer_id]
        if transfer.status == domain.EXPIRED:
            transfer.open_member_id = None

    def mark_failed(self, transfer_id: str, reason: str, at: Any) -> Transfer | None:
        transfer = self.rows[transfer_id]
        transfer.status, transfer.current_stage, transfer.current_stage_org = domain.FAILED, None, None
        transfer.failure_reason, transfer.open_member_id, transfer.finished_at = reason, None, at
        return transfer


class FakeRegistration:
    def __init__(self) -> None:
        self.members: dict[str, MemberInfo] = {}
        self.calls = 0

    def member(self, member_id: str) -> MemberInfo:
        self.calls += 1
        return self.members[member_id]

    def route(self, from_branch: str, to_branch: str, to_field: str = "to_branch_code") -> Route:
        self.calls += 1
        return Route("cross_province", SENDING, RECEIVING)

    def path(self, code: str) -> str:
        return PATHS[code]

    def org_name(self, code: str | None) -> str | None:
        return f"{code} 党组织" if code else None

    def org_names(self, codes: Any) -> dict[str, str]:
        return {code: f"{code} 党组织" for code in codes if code}


@dataclass
class FakeProcesses:
    """Temporal as the use cases see it: records every call; `refuse` makes updates fail as the
    workflow's validator would, `unstartable` makes starts fail for good."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    refuse: str | None = None
    unstartable: bool = False

    def start(self, workflow_input: TransferInput, status: str, stage_org: str | None) -> None:
        self.calls.append(("start", workflow_input.transfer_id, (status, stage_org)))
        if self.unstartable:
            raise ProcessNotStarted(TimeoutError())

    def start_reissue(self, workflow_input: TransferInput, status: str) -> None:
        self.calls.append(("start_reissue", workflow_input.transfer_id, workflow_input.reissue))
        if self.unstartable:
            raise ProcessNotStarted(TimeoutError())

    def _update(self, name: str, transfer_id: str, request: Any) -> None:
        self.calls.append((name, transfer_id, request))
        if self.refuse:
            raise Conflict(self.refuse)

    def decide(self, transfer_id: str, request: Any) -> None:
        self._update("decide", transfer_id, request)

    def resubmit(self, transfer_id: str, request: Any) -> None:
        self._update("resubmit", transfer_id, request)

    def cancel(self, transfer_id: str, request: Any) -> None:
        self._update("cancel", transfer_id, request)

    def report(self, transfer_id: str, request: Any) -> None:
        self._update("report", transfer_id, request)


class FakeTransferUnitOfWork(UnitOfWork):
    """The use cases' unit of work in memory; a rollback restores the rows as they were."""

    def __init__(self) -> None:
        super().__init__()
        self.transfers = FakeTransfers()
        self.registration = FakeRegistration()
        self.processes = FakeProcesses()
        self.settings = TransferSettings.from_env("transfer", {})
        self.committed_events: list[RaisedEvent] = []
        self.committed_audits: list[tuple[str, str, str]] = []
        self._saved: dict[str, Transfer] = {}

    def __enter__(self) -> FakeTransferUnitOfWork:
        super().__enter__()
        self._saved = copy.deepcopy(self.transfers.rows)
        return self

    def commit(self) -> None:
        self.committed_events += self.events
        self.committed_audits += [(a.actor, a.action, a.object_id) for a in self.audits]
        super().commit()

    def rollback(self) -> None:
        self.transfers.rows = self._saved
        super().rollback()

    def current(self, transfer_id: str) -> Transfer:
        row = self.transfers.rows.get(transfer_id)
        if row is None:
            raise NotFound(f"transfer {transfer_id} does not exist")
        return row

    def current_with_chain(self, transfer_id: str) -> tuple[Transfer, frozenset[str]]:
        return self.current(transfer_id), frozenset()


def member_of_sending_branch(uow: FakeTransferUnitOfWork, member_id: str = "m-1") -> Principal:
    paid_up = month_of(local_today())
    uow.registration.members[member_id] = MemberInfo(member_id, "王芳", "BR-S", paid_up)
    return Principal(member_id, "member", "BR-S")


def open_transfer(
    uow: FakeTransferUnitOfWork, transfer_id: str = "t-1", status: str | None = None
) -> Transfer:
    now = utcnow()
    transfer = Transfer(
        id=transfer_id,
        member_id="m-1",
        member_name="王芳",
        open_member_id="m-1",
        applicant="m-1",
        applicant_role="member",
        reason="工作调动",
        route="cross_province",
        from_branch_code="BR-S",
        to_branch_code="BR-R",
        from_path=PATHS["BR-S"],
        to_path=PATHS["BR-R"],
        status=status or domain.stage_status("sending_branch"),
        current_stage="sending_branch" if status is None else domain.stage_of(status),
        current_stage_org="BR-S" if status is None else None,
        due_at=now + timedelta(days=7),
        overdue=False,
        created_at=now,
        updated_at=now,
    )
    if status is not None and not domain.is_open(status):
        transfer.open_member_id = None
    uow.transfers.rows[transfer_id] = transfer
    return transfer


def uow_with_member() -> tuple[FakeTransferUnitOfWork, Principal]:
    uow = FakeTransferUnitOfWork()
    return uow, member_of_sending_branch(uow)


# --- applying -----------------------------------------------------------------------------


def test_an_application_writes_the_transfer_its_event_and_audit_then_starts_the_process():
    uow, member = uow_with_member()
    transfer_id = commands.apply(uow, member, commands.Apply("m-1", "BR-R", "工作调动"))  # type: ignore[arg-type]
    row = uow.transfers.rows[transfer_id]
    assert (row.status, row.current_stage_org, row.open_member_id) == (
        "pending_sending_branch",
        "BR-S",
        "m-1",
    )
    assert [e.event_type for e in uow.committed_events] == [events.REQUESTED]
    assert uow.committed_events[0].data["applicant"] == "m-1"
    assert uow.committed_audits == [("m-1", "apply", transfer_id)]
    assert uow.processes.calls == [("start", transfer_id, ("pending_sending_branch", "BR-S"))]


def test_an_application_for_a_member_with_an_open_transfer_is_a_409_and_starts_nothing():
    uow, member = uow_with_member()
    open_transfer(uow)
    with pytest.raises(Conflict) as refused:
        commands.apply(uow, member, commands.Apply("m-1", "BR-R", "再次申请"))  # type: ignore[arg-type]
    assert refused.value.status == 409 and refused.value.field == "member_id"
    assert list(uow.transfers.rows) == ["t-1"]
    assert uow.committed_events == [] and uow.committed_audits == [] and uow.processes.calls == []


def test_a_member_may_not_apply_for_another_member_and_registration_is_not_asked():
    uow, _ = uow_with_member()
    other = Principal("m-2", "member", "BR-S")
    with pytest.raises(Forbidden):
        commands.apply(uow, other, commands.Apply("m-1", "BR-R", "工作调动"))  # type: ignore[arg-type]
    assert uow.registration.calls == 0 and uow.transfers.rows == {}


def test_a_process_that_cannot_be_started_ends_the_transfer_failed_and_frees_the_member():
    uow, member = uow_with_member()
    uow.processes.unstartable = True
    with pytest.raises(Unavailable):
        commands.apply(uow, member, commands.Apply("m-1", "BR-R", "工作调动"))  # type: ignore[arg-type]
    (row,) = uow.transfers.rows.values()
    assert (row.status, row.open_member_id, row.current_stage) == (domain.FAILED, None, None)
    assert "could not be started" in (row.failure_reason or "")
    assert [e.event_type for e in uow.committed_events] == [events.REQUESTED, events.FAILED]


# --- decisions ----------------------------------------------------------------------------


def test_a_decision_by_the_wrong_org_is_refused_before_temporal_is_called():
    uow = FakeTransferUnitOfWork()
    open_transfer(uow)
    outsider = Principal("sec-x", "branch_secretary", "BR-X")
    with pytest.raises(Forbidden):
        commands.decide(uow, outsider, commands.Decide("t-1", "approve"))  # type: ignore[arg-type]
    assert uow.processes.calls == []


def test_a_decision_by_a_participant_whose_stage_is_not_open_is_a_409_before_temporal():
    uow = FakeTransferUnitOfWork()
    open_transfer(uow)
    receiving = Principal("sec-r", "branch_secretary", "BR-R")  # its stage comes later
    with pytest.raises(Conflict):
        commands.decide(uow, receiving, commands.Decide("t-1", "approve"))  # type: ignore[arg-type]
    assert uow.processes.calls == []


def test_a_decision_sends_its_audit_with_the_update_and_writes_none_itself():
    uow = FakeTransferUnitOfWork()
    member_of_sending_branch(uow)
    open_transfer(uow)
    holder = Principal("sec-s", "branch_secretary", "BR-S")
    commands.decide(uow, holder, commands.Decide("t-1", "approve"))  # type: ignore[arg-type]
    ((name, transfer_id, request),) = uow.processes.calls
    assert (name, transfer_id) == ("decide", "t-1")
    assert isinstance(request, DecisionRequest) and request.expected_stage == "sending_branch"
    assert request.audit is not None
    assert (request.audit.actor, request.audit.actor_role, request.audit.action) == (
        "sec-s",
        "branch_secretary",
        "decide:approve",
    )
    # The workflow's step writes the entry with its effect: the API adds none of its own.
    assert uow.committed_audits == [] and uow.committed_events == []


def test_a_decision_the_workflow_refuses_is_a_409_and_leaves_no_audit_entry():
    uow = FakeTransferUnitOfWork()
    member_of_sending_branch(uow)
    open_transfer(uow)
    uow.processes.refuse = "the sending_branch stage is already decided; now pending_township"
    holder = Principal("sec-s", "branch_secretary", "BR-S")
    with pytest.raises(Conflict, match="already decided"):
        commands.decide(uow, holder, commands.Decide("t-1", "approve"))  # type: ignore[arg-type]
    assert uow.committed_audits == [] and uow.audits == []


# --- the other actions --------------------------------------------------------------------


def test_a_finished_transfer_cannot_be_cancelled_and_temporal_is_not_asked():
    uow = FakeTransferUnitOfWork()
    open_transfer(uow, status=domain.COMPLETED)
    with pytest.raises(Conflict):
        commands.cancel(uow, Principal("m-1", "member", "BR-S"), commands.Cancel("t-1", "不去了"))  # type: ignore[arg-type]
    assert uow.processes.calls == []


def test_only_the_member_or_the_receiving_secretary_reports_in():
    uow = FakeTransferUnitOfWork()
    open_transfer(uow, status=domain.LETTER_ISSUED)
    with pytest.raises(Forbidden):
        commands.report(uow, Principal("sec-s", "branch_secretary", "BR-S"), commands.Report("t-1"))  # type: ignore[arg-type]
    commands.report(uow, Principal("sec-r", "branch_secretary", "BR-R"), commands.Report("t-1"))  # type: ignore[arg-type]
    assert [call[0] for call in uow.processes.calls] == ["report"]


def test_a_reissue_for_a_member_with_another_open_transfer_is_a_409_and_starts_nothing():
    uow, _ = uow_with_member()
    open_transfer(uow, "t-old", status=domain.EXPIRED)
    open_transfer(uow, "t-new")
    secretary = Principal("sec-s", "branch_secretary", "BR-S")
    with pytest.raises(Conflict):
        commands.reissue(uow, secretary, commands.ReissueLetter("t-old"))  # type: ignore[arg-type]
    assert uow.transfers.rows["t-old"].open_member_id is None
    assert uow.committed_audits == [] and uow.processes.calls == []


def test_a_reissue_that_cannot_start_gives_the_claim_back():
    uow, _ = uow_with_member()
    open_transfer(uow, "t-old", status=domain.EXPIRED)
    uow.processes.unstartable = True
    secretary = Principal("sec-s", "branch_secretary", "BR-S")
    with pytest.raises(Unavailable):
        commands.reissue(uow, secretary, commands.ReissueLetter("t-old", "信过期了"))  # type: ignore[arg-type]
    assert uow.transfers.rows["t-old"].open_member_id is None  # the member may apply again
    ((name, _, reissued),) = uow.processes.calls
    assert name == "start_reissue" and reissued.actor == "sec-s" and reissued.reason == "信过期了"
