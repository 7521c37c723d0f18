"""Registration use cases on an in-memory unit of work: the rules, the events they emit and the
audit entries they write, with no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.registration import commands
from services.registration.domain import CONTACT_FIELDS, MemberContact
from services.registration.models import Checkin, Inflow, Member, Org, Outflow, RelationshipMove
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.uow import UnitOfWork
from tests.support.builders import id_number

ADMIN = Principal(sub="admin", role="admin", org="CN")
SERVICE = Principal(sub="svc:transfer", role="service", org="CN")
# 2026-07-01 01:00 in China, still 30 June on a UTC server.
AFTER_MIDNIGHT_IN_CHINA = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)


class FakeOrgs:
    def __init__(self) -> None:
        self.rows: dict[str, Org] = {}

    def get(self, code: str) -> Org | None:
        return self.rows.get(code)

    known = get

    def add(self, org: Org) -> None:
        self.rows[org.code] = org

    def levels_of(self, org: Org) -> dict[str, str]:
        return {self.rows[code].level: code for code in org.path_codes if code in self.rows}

    def branches_in_region(self, prefix: str, limit: int) -> Sequence[Org]:
        return [o for o in self.rows.values() if o.level == "branch" and (o.region or "").startswith(prefix)]


class FakeMembers:
    def __init__(self) -> None:
        self.rows: dict[str, Member] = {}

    def get(self, member_id: str) -> Member | None:
        return self.rows.get(member_id)

    def contact_of(self, member_id: str) -> MemberContact | None:
        member = self.rows.get(member_id)
        if member is None:
            return None
        fields = ("id", "name", "branch_code", "branch_path", *CONTACT_FIELDS)
        return MemberContact(**{field: getattr(member, field) for field in fields})

    def move_contact(self, contact: MemberContact, counted: bool) -> None:
        member = self.rows[contact.id]
        for field, value in contact.contact().items():
            setattr(member, field, value)
        if counted:
            member.version += 1

    def add(self, member: Member) -> None:
        self.rows[member.id] = member

    def id_number_taken(self, number: str) -> bool:
        return any(m.id_number == number for m in self.rows.values())

    def branch_paths_of_id_numbers(self, numbers: list[str]) -> dict[str, str]:
        return {m.id_number: m.branch_path for m in self.rows.values() if m.id_number in numbers}

    def add_rows(self, rows: list[dict]) -> None:
        for row in rows:
            self.add(Member(**row))

    def out_of_contact(self, cutoff: datetime, limit: int) -> Sequence[Member]:
        lapsed = [m for m in self.rows.values() if not m.lost_contact and m.last_contact_at < cutoff]
        return sorted(lapsed, key=lambda m: (m.last_contact_at, m.id))[:limit]


class FakeCheckins:
    def __init__(self) -> None:
        self.rows: list[Checkin] = []

    def add(self, checkin: Checkin) -> None:
        self.rows.append(checkin)


class FakeMobility:
    def __init__(self) -> None:
        self.outflows: list[Outflow] = []
        self.inflows: list[Inflow] = []
        self.counters: dict[tuple[str, int], int] = {}

    def add_outflow(self, outflow: Outflow) -> None:
        self.outflows.append(outflow)

    def add_inflow(self, inflow: Inflow) -> None:
        self.inflows.append(inflow)

    def next_card_number(self, county_code: str, year: int) -> int:
        self.counters[county_code, year] = self.counters.get((county_code, year), 0) + 1
        return self.counters[county_code, year]

    def open_outflow(self, member_id: str) -> Outflow | None:
        return next((o for o in self.outflows if o.member_id == member_id and o.closed_on is None), None)

    def close_outflow(
        self, outflow: Outflow, on: date, reason: str, by: str, note: str | None = None
    ) -> bool:
        if outflow.closed_on is not None:
            return False
        outflow.closed_on, outflow.closed_reason, outflow.closed_by, outflow.close_note = on, reason, by, note
        return True

    def end_inflows(self, member_id: str, on: date) -> int:
        open_ones = [i for i in self.inflows if i.member_id == member_id and i.ended_on is None]
        for inflow in open_ones:
            inflow.ended_on = on
        return len(open_ones)


class FakeMoves:
    def __init__(self) -> None:
        self.rows: dict[str, RelationshipMove] = {}

    def get(self, transfer_id: str) -> RelationshipMove | None:
        return self.rows.get(transfer_id)

    def add(self, move: RelationshipMove) -> None:
        self.rows[move.transfer_id] = move


class FakeRegistrationUnitOfWork(UnitOfWork):
    """The repositories live as long as the fake (a register in memory); `committed_events`
    and `committed_audits` keep what every commit wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.orgs = FakeOrgs()
        self.members = FakeMembers()
        self.checkins = FakeCheckins()
        self.mobility = FakeMobility()
        self.moves = FakeMoves()
        self.id_hash_key = "unit-test-id-hash-key"
        self.committed_events: list = []
        self.committed_audits: list = []

    def commit(self) -> None:
        self.committed_events += self.events
        self.committed_audits += self.audits
        super().commit()


@pytest.fixture
def uow() -> FakeRegistrationUnitOfWork:
    fake = FakeRegistrationUnitOfWork()
    parent = Org(code="CN", name="CN", level="central", parent_code=None, path="/CN/")
    fake.orgs.add(parent)
    for level, code in (
        ("province", "TJ"),
        ("county", "TJ-WQ"),
        ("township", "TJ-WQ-YC"),
        ("branch", "TJ-WQ-YC-01"),
    ):
        org = Org(code=code, name=code, level=level, parent_code=parent.code, path=f"{parent.path}{code}/")
        fake.orgs.add(org)
        parent = org
    fake.orgs.add(Org(code="BJ-01", name="BJ-01", level="branch", parent_code="TJ", path="/CN/TJ/BJ-01/"))
    return fake


def at(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: now)


def new_member(uow: FakeRegistrationUnitOfWork, **overrides: object) -> commands.CreateMember:
    born = date(1990, 5, 17)
    fields: dict = {
        "name": "李明",
        "gender": "male",
        "birth_date": born,
        "id_number": id_number(born),
        "phone": "13812345678",
        "status": "full",
        "branch_code": "TJ-WQ-YC-01",
        "joined_on": date(2015, 7, 1),
        "dues_paid_through": "2026-06",
    }
    return commands.CreateMember(**{**fields, **overrides})


def register(uow: FakeRegistrationUnitOfWork, **overrides: object) -> str:
    return commands.create_member(uow, ADMIN, new_member(uow, **overrides)).id


def outflow(member_id: str, **overrides: object) -> commands.RegisterOutflow:
    command = commands.RegisterOutflow(
        member_id=member_id,
        destination_region="330602",
        destination_address="浙江省绍兴市越城区",
        occupation="建筑工人",
        departed_on=date(2026, 6, 20),
        reason="务工",
        contact_phone="13912345678",
    )
    return replace(command, **overrides)


def test_an_outflow_issues_the_next_card_number_emits_and_audits(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    first, second = register(uow), register(uow)
    uow.committed_events.clear()
    uow.committed_audits.clear()
    card = commands.register_outflow(uow, ADMIN, outflow(first)).activity_card_no
    later = commands.register_outflow(uow, ADMIN, outflow(second)).activity_card_no
    assert (card, later) == ("WQ-2026-000001", "WQ-2026-000002")
    event = uow.committed_events[0]
    assert event.event_type == "registration.outflow_registered.v1" and event.subject == first
    assert event.data["activity_card_no"] == card and event.data["branch_path"][-1] == "TJ-WQ-YC-01"
    assert [(a.action, a.object_type, a.actor) for a in uow.committed_audits] == [
        ("create", "outflow", "admin"),
        ("create", "outflow", "admin"),
    ]
    member = uow.members.get(first)
    assert member.mobile and member.activity_card_no == card and member.version == 2


def test_a_card_issued_after_midnight_on_new_years_day_in_china_is_of_the_new_year(uow, monkeypatch):
    at(monkeypatch, datetime(2026, 12, 31, 17, 30, tzinfo=UTC))  # 2027-01-01 01:30 in China
    member = register(uow)
    issued = commands.register_outflow(uow, ADMIN, outflow(member, departed_on=date(2026, 12, 31)))
    assert issued.activity_card_no == "WQ-2027-000001"


def test_an_outflow_outside_the_secretarys_subtree_is_refused_and_emits_nothing(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    member = register(uow)
    stranger = Principal(sub="sec-bj", role="branch_secretary", org="BJ-01")
    with pytest.raises(Forbidden):
        commands.register_outflow(uow, stranger, outflow(member))
    assert uow.mobility.outflows == [] and uow.events == []


def test_a_check_in_by_a_secretary_outside_scope_is_refused(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    member = register(uow)
    committed = len(uow.committed_events)
    stranger = Principal(sub="sec-bj", role="branch_secretary", org="BJ-01")
    survey = commands.RecordCheckin(member_id=member, branch_code="TJ-WQ-YC-01", kind="grid_survey")
    with pytest.raises(Forbidden):
        commands.record_checkin(uow, stranger, survey)
    assert uow.checkins.rows == [] and len(uow.committed_events) == committed
    own = Principal(sub="sec-1", role="branch_secretary", org="TJ-WQ-YC-01")
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA + timedelta(hours=1))
    recorded = commands.record_checkin(uow, own, survey)
    assert recorded.recorded_by == "sec-1"
    # The last contact moved: the record's version counts the change (the ETag's base).
    assert uow.members.get(member).version == 2
    assert uow.committed_events[-1].event_type == "registration.member_checked_in.v1"
    assert uow.committed_audits[-1].object_id == recorded.id


def test_a_member_checks_in_only_themself_and_only_as_self(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    member, other = register(uow), register(uow)
    me = Principal(sub=member, role="member", org="TJ-WQ-YC-01")
    with pytest.raises(Forbidden):
        commands.record_checkin(uow, me, commands.RecordCheckin(other, "TJ-WQ-YC-01", "self"))
    with pytest.raises(InvalidInput) as wrong_kind:
        commands.record_checkin(uow, me, commands.RecordCheckin(member, "TJ-WQ-YC-01", "grid_survey"))
    assert wrong_kind.value.field == "kind"


def test_a_relationship_move_is_idempotent_by_transfer_id(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    member = register(uow)
    move = commands.MoveRelationship(member_id=member, branch_code="BJ-01", transfer_id="T-1")
    with pytest.raises(Forbidden):
        commands.move_relationship(uow, ADMIN, move)
    first = commands.move_relationship(uow, SERVICE, move)
    events = len(uow.committed_events)
    again = commands.move_relationship(uow, SERVICE, move)
    assert first == again and first.branch_code == "BJ-01" and "*" in first.id_number
    assert len(uow.committed_events) == events, "a replay emitted the move again"
    assert list(uow.moves.rows) == ["T-1"] and uow.members.get(member).version == 2
    with pytest.raises(Conflict):
        commands.move_relationship(uow, SERVICE, replace(move, branch_code="TJ-WQ-YC-01"))


@pytest.mark.parametrize(("day", "accepted"), [(date(2026, 7, 1), True), (date(2026, 7, 2), False)])
def test_today_in_china_is_not_a_future_joined_on_or_arrived_on(uow, monkeypatch, day, accepted):
    """At 01:00 on 1 July in China the UTC server is still on 30 June: 1 July is today."""
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    member = register(uow)
    arrival = commands.RegisterInflow(member, "BJ-01", day, "北京市朝阳区", "司机")
    joining = new_member(uow, joined_on=day, dues_paid_through="2026-07")
    if accepted:
        assert commands.register_inflow(uow, ADMIN, arrival).arrived_on == day
        assert commands.create_member(uow, ADMIN, joining).joined_on == day
        return
    with pytest.raises(InvalidInput) as arrived:
        commands.register_inflow(uow, ADMIN, arrival)
    with pytest.raises(InvalidInput) as joined:
        commands.create_member(uow, ADMIN, joining)
    assert (arrived.value.field, joined.value.field) == ("arrived_on", "joined_on")


def test_the_sweep_flags_each_lapse_once_as_the_sweep(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    lapsed, recent = register(uow), register(uow)
    uow.members.get(lapsed).last_contact_at = AFTER_MIDNIGHT_IN_CHINA - timedelta(days=200)
    sweep = commands.SweepLostContact(lost_contact_days=180, batch=1)
    assert commands.sweep_lost_contact(uow, commands.SWEEP_ACTOR, sweep) == 1
    assert commands.sweep_lost_contact(uow, commands.SWEEP_ACTOR, sweep) == 0
    flagged = [e for e in uow.committed_events if e.event_type == "registration.member_lost_contact.v1"]
    assert [e.subject for e in flagged] == [lapsed] and flagged[0].data["lost_contact_days"] == 180
    assert uow.members.get(lapsed).version == 2 and uow.members.get(recent).version == 1
    assert uow.committed_audits[-1].actor == commands.SWEEP_ACTOR.sub
    assert not uow.members.get(recent).lost_contact


def test_an_import_reports_every_bad_row_and_a_dry_run_writes_nothing(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    here = new_member(uow)
    register(uow, id_number=here.id_number)
    elsewhere = new_member(uow, branch_code="BJ-01")
    register(uow, id_number=elsewhere.id_number, branch_code="BJ-01")
    fresh = vars(new_member(uow))
    rows = [
        (1, vars(here)),
        (2, {**vars(elsewhere), "branch_code": "TJ-WQ-YC-01"}),
        (3, fresh),
        (4, fresh),
        (5, {**vars(new_member(uow)), "joined_on": date(2026, 7, 2)}),
    ]
    command = commands.ImportMembers("TJ-WQ-YC-01", 5, rows, [], dry_run=True)
    before = len(uow.members.rows)
    dry = commands.import_members(uow, ADMIN, command)
    assert (dry.valid, dry.existing) == (2, 1)
    assert [(e["row"], e["field"]) for e in dry.errors] == [
        (2, "id_number"),
        (4, "id_number"),
        (5, "joined_on"),
    ]
    assert len(uow.members.rows) == before and uow.events == []
    with pytest.raises(commands.ImportRejected):
        commands.import_members(uow, ADMIN, replace(command, dry_run=False))
    done = commands.import_members(uow, ADMIN, replace(command, valid=rows[:1] + rows[2:3], dry_run=False))
    assert (done.created, done.existing) == (1, 1) and len(uow.members.rows) == before + 1
    assert uow.committed_audits[-1].action == "import"


def test_a_member_is_registered_once_per_id_number(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    command = new_member(uow)
    created = commands.create_member(uow, ADMIN, command)
    assert created.id_number == command.id_number and created.version == 1
    assert uow.committed_events[-1].data["branch_path"] == ["CN", "TJ", "TJ-WQ", "TJ-WQ-YC", "TJ-WQ-YC-01"]
    with pytest.raises(Conflict) as duplicate:
        commands.create_member(uow, ADMIN, command)
    assert duplicate.value.field == "id_number"
