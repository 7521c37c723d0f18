"""Station use cases on an in-memory unit of work: who creates stations, where a check-in by scan
lands, what it emits, once per China day, and which codes are refused; no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.registration import qr
from services.registration.commands import stations
from services.registration.models import Checkin, Station
from shared.auth import Principal
from shared.errors import Forbidden, InvalidInput
from tests.unit.test_registration_use_cases import (
    ADMIN,
    FakeCheckins,
    FakeRegistrationUnitOfWork,
    at,
    register,
)
from tests.unit.test_registration_use_cases import uow as registry  # noqa: F401 (fixture)

# 00:30 on 8 December in China, still 7 December on a UTC server.
AFTER_MIDNIGHT_IN_CHINA = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)


class FakeScanCheckins(FakeCheckins):
    def add_once_a_day(self, checkin: Checkin) -> None:
        self.add(checkin)

    def at_station_on(self, member_id: str, station_code: str, day: date) -> Checkin | None:
        found = [
            c
            for c in self.rows
            if (c.member_id, c.station_code, c.station_day) == (member_id, station_code, day)
        ]
        return found[0] if found else None


class FakeStations:
    def __init__(self) -> None:
        self.rows: dict[str, Station] = {}

    def get(self, code: str) -> Station | None:
        return self.rows.get(code)

    def add(self, station: Station) -> None:
        self.rows[station.code] = station


@pytest.fixture
def uow(registry: FakeRegistrationUnitOfWork) -> FakeRegistrationUnitOfWork:  # noqa: F811
    registry.checkins = FakeScanCheckins()
    registry.stations = FakeStations()  # type: ignore[attr-defined]
    return registry


def create(uow: FakeRegistrationUnitOfWork, actor: Principal = ADMIN, **overrides: object) -> Station:
    fields: dict = {
        "code": "ST-YC",
        "name": "杨村街道流动党员之家",
        "kind": "home",
        "host_org_code": "TJ-WQ-YC",
        "region": "120114001",
        "address": "天津市武清区杨村街道",
    }
    return stations.create_station(uow, actor, stations.CreateStation(**{**fields, **overrides}))


def test_officers_create_stations_in_their_subtree_only(uow):
    officer = Principal(sub="o", role="township_officer", org="TJ-WQ-YC")
    station = create(uow, officer)
    assert (
        station.key_version == 1
        and len(station.qr_key) == 64
        and station.host_path == "/CN/TJ/TJ-WQ/TJ-WQ-YC/"
    )
    assert [a.action for a in uow.committed_audits] == ["create"] and uow.committed_events == []
    with pytest.raises(Forbidden):
        create(uow, Principal(sub="s", role="branch_secretary", org="TJ-WQ-YC-01"), code="ST-2")
    with pytest.raises(Forbidden):
        create(
            uow,
            Principal(sub="o", role="township_officer", org="TJ-WQ-YC"),
            code="ST-3",
            host_org_code="BJ-01",
        )
    with pytest.raises(InvalidInput) as refused:
        create(uow, code="ST-4", host_org_code="TJ-WQ")
    assert refused.value.field == "host_org_code"
    with pytest.raises(InvalidInput) as half:
        create(uow, code="ST-5", latitude=39.4)
    assert half.value.field == "longitude"


def scan(uow, member_id: str, token: str, actor: Principal | None = None) -> stations.QrCheckin:
    actor = actor or Principal(sub=member_id, role="member", org="TJ-WQ-YC-01")
    return stations.record_qr_checkin(uow, actor, stations.RecordQrCheckin(member_id, token))


def test_a_scan_lands_at_the_host_once_per_china_day(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    station = create(uow)
    member_id = register(uow)
    token, _ = qr.screen_token(
        station.qr_key, station.code, 1, AFTER_MIDNIGHT_IN_CHINA, timedelta(seconds=120)
    )
    first = scan(uow, member_id, token)
    assert first.created and first.checkin.branch_code == "TJ-WQ-YC" and first.checkin.station_code == "ST-YC"
    assert uow.checkins.rows[0].station_day == date(2026, 12, 8)  # the day in China
    event = uow.committed_events[-1]
    assert event.event_type == "registration.member_checked_in.v1"
    assert event.data["station_code"] == "ST-YC" and event.data["station_name"] == "杨村街道流动党员之家"
    assert event.data["home_branch_code"] == "TJ-WQ-YC-01" and event.data["kind"] == "qr"
    again = scan(uow, member_id, token)
    assert not again.created and again.checkin.id == first.checkin.id and len(uow.checkins.rows) == 1


@pytest.mark.parametrize("who", ["another member", "secretary"])
def test_only_the_member_scans_for_themself(uow, who):
    station = create(uow)
    member_id = register(uow)
    token = qr.poster_token(station.qr_key, station.code, 1)
    actor = (
        Principal(sub="someone-else", role="member", org="TJ-WQ-YC-01")
        if who == "another member"
        else Principal(sub="s", role="branch_secretary", org="TJ-WQ-YC-01")
    )
    with pytest.raises(Forbidden):
        scan(uow, member_id, token, actor)
    assert uow.checkins.rows == []


def test_expired_rotated_and_foreign_codes_name_qr_token(uow, monkeypatch):
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    station = create(uow)
    member_id = register(uow)
    expired, _ = qr.screen_token(
        station.qr_key,
        station.code,
        1,
        AFTER_MIDNIGHT_IN_CHINA - timedelta(minutes=5),
        timedelta(seconds=120),
    )
    poster = qr.poster_token(station.qr_key, station.code, 1)
    stations.rotate_station_key(uow, ADMIN, stations.RotateStationKey(station.code))
    foreign = qr.poster_token(qr.new_key(), station.code, 2)
    for token in (expired, poster, foreign, "garbage", qr.poster_token(qr.new_key(), "NO-SUCH", 1)):
        with pytest.raises(InvalidInput) as refused:
            scan(uow, member_id, token)
        assert refused.value.field == "qr_token", token
    assert uow.checkins.rows == []
    assert scan(uow, member_id, qr.poster_token(station.qr_key, station.code, 2)).created
