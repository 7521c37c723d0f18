"""Read queries of stations: lists, the nearest stations, their codes, their monthly figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from services.registration import domain, qr
from services.registration.models import Checkin, Station
from services.registration.queries import nearest_branches, scope_path
from services.registration.repositories import OrgRepository, StationRepository
from shared import clock
from shared.auth import Principal
from shared.db import Database
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.pagination import decode_cursor, page

# Nearest by distance: the first search radius, doubled until enough stations lie within it.
FIRST_RADIUS_KM = 5.0
GROWTH = 2.0
HALF_CIRCUMFERENCE_KM = 20_016.0


def _station_or_404(session: Session, code: str) -> Station:
    station = StationRepository(session).get(code)
    if station is None:
        raise NotFound(f"station {code} does not exist")
    return station


def get_station(database: Database, code: str) -> Station:
    # Stations are public places, like the org tree: any authenticated caller may read them.
    with database.reader() as session:
        station = _station_or_404(session, code)
        session.expunge(station)
        return station


@dataclass(frozen=True)
class StationList:
    limit: int
    cursor: str | None = None
    region: str | None = None
    org: str | None = None


def list_stations(database: Database, query: StationList) -> dict[str, Any]:
    """Stations by code, optionally in a region (prefix) or hosted in an org's subtree."""
    after = decode_cursor(query.cursor)
    with database.reader() as session:
        statement = select(Station).order_by(Station.code).limit(query.limit + 1)
        if query.org:
            org = OrgRepository(session).get(query.org)
            if org is None:
                raise NotFound(f"org {query.org} does not exist")
            statement = statement.where(Station.host_path.like(f"{org.path}%"))
        if query.region:
            statement = statement.where(Station.region.like(f"{query.region}%"))
        if after:
            statement = statement.where(Station.code > after[0])
        result = page(session.scalars(statement).all(), query.limit, key=lambda s: (s.code,))
        session.expunge_all()
        return result


@dataclass(frozen=True)
class StationHit:
    """A station as the nearest list shows it, with its distance when one was asked for."""

    station: Station
    distance_km: float | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.station, name)


def stations_by_region(session: Session, region: str, limit: int) -> list[StationHit]:
    stations = StationRepository(session)
    for prefix in domain.region_prefixes(region):
        found = stations.in_region(prefix, limit)
        if found:
            return [StationHit(station, None) for station in found]
    return []


def stations_by_distance(session: Session, lat: float, lon: float, limit: int) -> list[StationHit]:
    """The `limit` stations nearest to a point by great-circle distance.

    A box read off the (latitude, longitude) index prefilters; the exact distance ranks the few
    candidates. The radius grows until `limit` stations lie within it (then no station outside
    the circle can be nearer than those inside), or until it covers the whole earth."""
    stations = StationRepository(session)
    radius = FIRST_RADIUS_KM
    while True:
        candidates = stations.points_in_box(domain.bounding_box(lat, lon, radius))
        ranked = sorted(
            (domain.haversine_km(lat, lon, c_lat, c_lon), code) for code, c_lat, c_lon in candidates
        )
        within = [hit for hit in ranked if hit[0] <= radius]
        if len(within) >= limit or radius >= HALF_CIRCUMFERENCE_KM:
            chosen = (within if len(within) >= limit else ranked)[:limit]
            rows = {s.code: s for s in stations.many([code for _, code in chosen])}
            return [StationHit(rows[code], round(distance, 3)) for distance, code in chosen]
        radius *= GROWTH


def nearest_stations(
    session: Session, region: str | None, lat: float | None, lon: float | None, limit: int
) -> list[StationHit]:
    if lat is not None and lon is not None:
        return stations_by_distance(session, lat, lon, limit)
    return stations_by_region(session, region, limit) if region else []


# --- codes --------------------------------------------------------------------------------


def scan_url(console_url: str, token: str) -> str:
    """What the QR encodes: the console's scan page, so a phone camera opens it directly."""
    return f"{console_url.rstrip('/')}/scan?t={quote(token, safe='')}"


@dataclass(frozen=True)
class ScreenCode:
    token: str
    expires_at: datetime
    url: str


def _station_for_staff(session: Session, principal: Principal, code: str) -> Station:
    """Staff of the host org or above (not members: a code in hand is a check-in from home)."""
    station = _station_or_404(session, code)
    if principal.role == "member":
        raise Forbidden("a station's codes are for its staff")
    domain.require_scope(principal, station.host_path, "issue this station's codes")
    return station


def screen_code(
    database: Database, principal: Principal, code: str, ttl: timedelta, console_url: str
) -> ScreenCode:
    with database.reader() as session:
        station = _station_for_staff(session, principal, code)
        token, expires_at = qr.screen_token(
            station.qr_key, station.code, station.key_version, clock.utcnow(), ttl
        )
    return ScreenCode(token, expires_at, scan_url(console_url, token))


@dataclass(frozen=True)
class Poster:
    """What the printed poster shows."""

    code: str
    name: str
    kind: str
    address: str
    open_hours: str | None
    url: str


def poster(database: Database, principal: Principal, code: str, console_url: str) -> Poster:
    with database.reader() as session:
        station = _station_for_staff(session, principal, code)
        token = qr.poster_token(station.qr_key, station.code, station.key_version)
        return Poster(
            station.code,
            station.name,
            station.kind,
            station.address,
            station.open_hours,
            scan_url(console_url, token),
        )


# --- figures ------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The instants (UTC) a China calendar month starts and ends."""
    year, number = int(month[:4]), int(month[5:7])
    if not 1900 <= year <= 9000:  # the schema's YYYY-MM allows years no calendar here handles
        raise InvalidInput("month must be between 1900-01 and 9000-12", field="month", location="query")
    start = datetime(year, number, 1, tzinfo=clock.CHINA_TIME)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=clock.CHINA_TIME)
    return start.astimezone(UTC), end.astimezone(UTC)


def station_stats(database: Database, principal: Principal, org: str | None, month: str) -> dict[str, Any]:
    """Check-ins per station of an org's subtree in a China month, stations without any included."""
    start, end = month_bounds(month)
    with database.reader() as session:
        path = scope_path(OrgRepository(session), principal, org)
        joined = and_(
            Checkin.station_code == Station.code, Checkin.occurred_at >= start, Checkin.occurred_at < end
        )
        rows: Sequence[Any] = session.execute(
            select(Station.code, Station.name, Station.kind, Station.host_org_code, func.count(Checkin.id))
            .outerjoin(Checkin, joined)
            .where(Station.host_path.like(f"{path}%"))
            .group_by(Station.code, Station.name, Station.kind, Station.host_org_code)
            .order_by(Station.code)
        ).all()
    items = [
        {"station_code": c, "name": n, "kind": k, "host_org_code": h, "checkins": int(count)}
        for c, n, k, h, count in rows
    ]
    org_code = [code for code in path.split("/") if code][-1]
    return {"org": org_code, "month": month, "items": items, "total": sum(i["checkins"] for i in items)}


@dataclass(frozen=True)
class Nearest:
    region: str | None
    matched_prefix: str | None
    items: Sequence[Any]
    stations: list[StationHit]


def nearest(
    database: Database, region: str | None, lat: float | None, lon: float | None, limit: int
) -> Nearest:
    """Branches by the longest shared region prefix (as before), and stations beside them:
    by great-circle distance given lat/lon, else by the same region rule."""
    branches = nearest_branches(database, region, limit) if region else None
    with database.reader() as session:
        hits = nearest_stations(session, region, lat, lon, limit)
        session.expunge_all()
    return Nearest(
        region,
        branches.matched_prefix if branches else None,
        branches.items if branches else [],
        hits,
    )
