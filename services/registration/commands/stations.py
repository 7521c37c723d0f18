"""Use cases of stations: create one, rotate its key, and check in by scanning its code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from services.registration import domain, qr
from services.registration.commands.common import member_event
from services.registration.commands.registry import follow_checkin
from services.registration.models import Checkin, Station
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.db import new_id
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

STATION_CREATORS = ("township_officer", "org_department", "admin")


@dataclass(frozen=True)
class CreateStation:
    code: str
    name: str
    kind: str
    host_org_code: str
    region: str
    address: str
    latitude: float | None = None
    longitude: float | None = None
    open_hours: str | None = None


def create_station(uow: RegistrationUnitOfWork, actor: Principal, command: CreateStation) -> Station:
    """A township officer or org department creates a station hosted in its subtree."""
    if actor.role not in STATION_CREATORS:
        raise Forbidden("only a township officer, an org department or an admin may create stations")
    domain.check_coordinates(command.latitude, command.longitude)
    with uow:
        host = uow.orgs.get(command.host_org_code)
        if host is None:
            raise InvalidInput(f"org {command.host_org_code} does not exist", field="host_org_code")
        domain.check_station_host(host.level)
        domain.require_scope(actor, host.path, "create stations")
        if uow.stations.get(command.code) is not None:
            raise Conflict(f"station {command.code} already exists", field="code")
        station = Station(
            **vars(command),
            host_path=host.path,
            lat_band=domain.latitude_band(command.latitude),
            qr_key=qr.new_key(),
            key_version=1,
            created_at=clock.utcnow(),
        )
        uow.stations.add(station)
        uow.audit(actor, "create", "station", station.code)
        uow.commit()
        return station


def station_or_404(uow: RegistrationUnitOfWork, code: str) -> Station:
    station = uow.stations.get(code)
    if station is None:
        raise NotFound(f"station {code} does not exist")
    return station


@dataclass(frozen=True)
class RotateStationKey:
    code: str


def rotate_station_key(uow: RegistrationUnitOfWork, actor: Principal, command: RotateStationKey) -> Station:
    """A new key voids every code issued before: posters must be printed again."""
    with uow:
        station = station_or_404(uow, command.code)
        domain.require_scope(actor, station.host_path, "rotate the station's key")
        station.qr_key = qr.new_key()
        station.key_version += 1
        uow.audit(actor, "rotate_key", "station", station.code, f"version {station.key_version}")
        uow.commit()
        return station


@dataclass(frozen=True)
class RecordQrCheckin:
    member_id: str
    qr_token: str
    lost_contact_days: int = 180
    now: datetime | None = None


@dataclass(frozen=True)
class CheckinRecord:
    """A check-in as CheckinSchema dumps it, copied out of the unit of work."""

    id: str
    member_id: str
    branch_code: str
    kind: str
    occurred_at: datetime
    note: str | None
    station_code: str | None

    @classmethod
    def of(cls, checkin: Checkin) -> CheckinRecord:
        return cls(
            checkin.id,
            checkin.member_id,
            checkin.branch_code,
            checkin.kind,
            checkin.occurred_at,
            checkin.note,
            checkin.station_code,
        )


@dataclass(frozen=True)
class QrCheckin:
    """The check-in, and whether this scan made it (False: the day's earlier one, a replay)."""

    checkin: CheckinRecord
    created: bool


def _bad_token(message: str) -> InvalidInput:
    return InvalidInput(message, field="qr_token")


def record_qr_checkin(uow: RegistrationUnitOfWork, actor: Principal, command: RecordQrCheckin) -> QrCheckin:
    """报到 by scanning a station's code: lands at the station's host org with the station.

    One per member, station and China day: a unique key decides, so two scans racing each other
    both answer with the one check-in that was written."""
    if actor.role == "member" and actor.sub != command.member_id:
        raise Forbidden("a member checks in only themself")
    if actor.role != "member" and not actor.is_service:
        raise Forbidden("a check-in by scan is the member's own")
    now = command.now or clock.utcnow()
    try:
        return _record(uow, actor, command, now)
    except IntegrityError:
        with uow:
            earlier = uow.checkins.at_station_on(
                command.member_id, _station_of(command.qr_token), clock.local_date(now)
            )
            if earlier is None:
                raise
            return QrCheckin(CheckinRecord.of(earlier), created=False)


def _station_of(token: str) -> str:
    try:
        return qr.read_claims(token)[0].station_code
    except qr.BadToken as error:
        raise _bad_token(str(error)) from None


def _record(
    uow: RegistrationUnitOfWork, actor: Principal, command: RecordQrCheckin, now: datetime
) -> QrCheckin:
    with uow:
        station = uow.stations.get(_station_of(command.qr_token))
        if station is None:
            raise _bad_token("the code names no station")
        try:
            qr.verify(command.qr_token, station.qr_key, station.key_version, now)
        except qr.BadToken as error:
            raise _bad_token(str(error)) from None
        member = uow.members.get(command.member_id)
        if member is None:
            raise InvalidInput(f"member {command.member_id} does not exist", field="member_id")
        day = clock.local_date(now)
        earlier = uow.checkins.at_station_on(member.id, station.code, day)
        if earlier is not None:
            return QrCheckin(CheckinRecord.of(earlier), created=False)
        host = uow.orgs.get(station.host_org_code)
        assert host is not None
        checkin = Checkin(
            id=new_id(),
            member_id=member.id,
            branch_code=host.code,
            kind="qr",
            occurred_at=now,
            note=None,
            recorded_by=actor.sub,
            created_at=now,
            station_code=station.code,
            station_day=day,
        )
        uow.checkins.add_once_a_day(checkin)
        follow_checkin(member, now, domain.contact_cutoff(now, command.lost_contact_days))
        uow.emit(
            MEMBER_CHECKED_IN,
            member.id,
            {
                **member_event(member, host.path),
                "checkin_id": checkin.id,
                "branch_code": host.code,
                "home_branch_code": member.branch_code,
                "kind": "qr",
                "occurred_at": now.isoformat(),
                "station_code": station.code,
                "station_name": station.name,
            },
        )
        uow.audit(actor, "create", "checkin", checkin.id, f"station {station.code}")
        record = CheckinRecord.of(checkin)
        uow.commit()
        return QrCheckin(record, created=True)
