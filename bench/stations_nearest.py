"""The nearest stations by great-circle distance at 100,000 stations, on SQLite and PostgreSQL,
through the registration API (Flask test client: auth, schema, the use case, serialization)
against the same query run directly on the same database in the same run: the same statements
(a box read as one range of the (lat_band, longitude) index per 0.1° latitude band, widened
until enough stations lie within the radius, then the chosen rows) with the ranking done by
hand, no Flask, no ORM.

A third figure per database shows what the index is worth: the direct query against ranking
every station (a full read of the table), p50.

    .venv/bin/python -m bench.stations_nearest [--stations 100000] [--samples 200] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection

from bench.common import emit
from bench.registration_common import fresh_postgres

# Mainland China's extent, roughly: stations are spread over it, denser around a few cities.
LAT, LON = (18.0, 53.0), (73.0, 135.0)
CITIES = [(39.38, 117.05), (25.3, 119.1), (30.29, 108.94), (36.62, 101.76), (31.23, 121.47), (23.13, 113.26)]
LIMIT = 10


def seed(url: str, count: int, rng: random.Random) -> float:
    from sqlalchemy import insert, text

    from services.registration import commands
    from services.registration.app import MIGRATIONS
    from services.registration.domain import latitude_band
    from services.registration.models import Station
    from services.registration.unit_of_work import RegistrationUnitOfWork
    from shared.auth import Principal
    from shared.db import migrate, service_database

    database = service_database(url, "registration")
    migrate(database, MIGRATIONS)
    admin = Principal(sub="bench", role="admin", org="CN")
    parent = "CN"
    for level, code in (("province", "BS"), ("county", "BS-K"), ("township", "BS-K-T")):
        command = commands.CreateOrg(code=code, name=code, level=level, parent_code=parent)
        commands.create_org(RegistrationUnitOfWork(database), admin, command)
        parent = code
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = []
    for number in range(count):
        if number % 3 == 0:  # a third around cities, the rest anywhere
            lat, lon = rng.choice(CITIES)
            lat, lon = lat + rng.gauss(0, 0.5), lon + rng.gauss(0, 0.5)
        else:
            lat, lon = rng.uniform(*LAT), rng.uniform(*LON)
        rows.append(
            {
                "code": f"ST-{number:07d}",
                "name": f"驿站{number}",
                "kind": "station",
                "host_org_code": parent,
                "host_path": "/CN/BS/BS-K/BS-K-T/",
                "region": "110101",
                "address": "地址",
                "latitude": lat,
                "longitude": lon,
                "lat_band": latitude_band(lat),
                "open_hours": None,
                "qr_key": secrets.token_hex(32),
                "key_version": 1,
                "created_at": now,
            }
        )
        if len(rows) == 5000:
            with database.transaction() as session:
                session.execute(insert(Station), rows)
            rows = []
    if rows:
        with database.transaction() as session:
            session.execute(insert(Station), rows)
    with database.transaction() as session:
        # Planner statistics, as autovacuum would gather them after a load this size.
        session.execute(text("ANALYZE stations"))
    seconds = time.perf_counter() - started
    database.dispose()
    return seconds


def direct_nearest(connection: Connection, lat: float, lon: float, limit: int) -> list[str]:
    """The same statements as the use case, on a raw connection, ranked by hand."""
    from sqlalchemy import bindparam, text

    from services.registration.domain import bounding_box, haversine_km
    from services.registration.station_queries import FIRST_RADIUS_KM, GROWTH, HALF_CIRCUMFERENCE_KM

    radius = FIRST_RADIUS_KM
    while True:
        box = bounding_box(lat, lon, radius)
        sql = "SELECT code, latitude, longitude FROM stations WHERE latitude BETWEEN :a AND :b"
        params: dict[str, object] = {"a": box.min_lat, "b": box.max_lat}
        if box.bands is not None:
            sql += " AND lat_band IN :bands"
            params["bands"] = box.bands
        if box.min_lon is not None and box.max_lon is not None:
            sql += " AND longitude BETWEEN :c AND :d"
            params |= {"c": box.min_lon, "d": box.max_lon}
        statement = text(sql + " AND longitude IS NOT NULL")
        if box.bands is not None:
            statement = statement.bindparams(bindparam("bands", expanding=True))
        rows = connection.execute(statement, params).all()
        ranked = sorted((haversine_km(lat, lon, r[1], r[2]), r[0]) for r in rows)
        within = [hit for hit in ranked if hit[0] <= radius]
        if len(within) >= limit or radius >= HALF_CIRCUMFERENCE_KM:
            codes = [code for _, code in (within or ranked)[:limit]]
            chosen = text("SELECT * FROM stations WHERE code IN :codes").bindparams(
                bindparam("codes", expanding=True)
            )
            connection.execute(chosen, {"codes": codes}).all()
            return codes
        radius *= GROWTH


def full_scan(connection: Connection, lat: float, lon: float, limit: int) -> list[str]:
    from sqlalchemy import text

    from services.registration.domain import haversine_km

    rows = connection.execute(text("SELECT code, latitude, longitude FROM stations")).all()
    return [code for _, code in sorted((haversine_km(lat, lon, r[1], r[2]), r[0]) for r in rows)[:limit]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@contextmanager
def fresh_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'stations.db'}"


def measure(kind: str, url: str, stations: int, samples: int) -> None:
    from services.registration.app import create_app
    from services.registration.settings import RegistrationSettings
    from shared.auth import issue_token
    from shared.db import service_database
    from shared.settings import DEV_JWT_SECRET

    rng = random.Random(19)
    seconds = seed(url, stations, rng)
    print(f"[{kind}] seeded {stations:,} stations in {seconds:.1f} s")
    settings = RegistrationSettings.from_env().with_overrides(database_url=url)
    client = create_app(settings).test_client()
    admin = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench", "admin", "CN")}
    database = service_database(url, "registration")
    api, direct, scan = [], [], []
    for number in range(samples):
        lat, lon = rng.choice(CITIES) if number % 2 else (rng.uniform(*LAT), rng.uniform(*LON))
        path = f"/api/v1/orgs/nearest?lat={lat:.5f}&lon={lon:.5f}&limit={LIMIT}"
        started = time.perf_counter()
        response = client.get(path, headers=admin)
        api.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_json()
        got = [s["code"] for s in response.get_json()["stations"]]
        # The same rounded point the API parsed, so both answer the same question.
        lat, lon = round(lat, 5), round(lon, 5)
        with database.reader() as session:
            connection = session.connection()
            started = time.perf_counter()
            expected = direct_nearest(connection, lat, lon, LIMIT)
            direct.append(time.perf_counter() - started)
            if number < max(10, samples // 10):  # the full scan is slow: fewer samples
                started = time.perf_counter()
                scanned = full_scan(connection, lat, lon, LIMIT)
                scan.append(time.perf_counter() - started)
                assert scanned == expected, "the indexed search and the full scan disagree"
        assert got == expected, (got, expected)
    database.dispose()
    api_p50, api_p95 = percentile(api, 0.5), percentile(api, 0.95)
    direct_p50, direct_p95 = percentile(direct, 0.5), percentile(direct, 0.95)
    print(
        f"[{kind}] nearest {LIMIT} of {stations:,}: API p50 {api_p50:.2f} ms p95 {api_p95:.2f} ms; "
        f"direct p50 {direct_p50:.2f} ms p95 {direct_p95:.2f} ms; full scan p50 {percentile(scan, 0.5):.1f} ms"
    )
    label = f"nearest {LIMIT} stations of {stations:,} ({kind})"
    emit(f"{label}, API p50 (lower is better)", api_p50, "ms", "the same query, direct", direct_p50)
    emit(f"{label}, API p95 (lower is better)", api_p95, "ms", "the same query, direct", direct_p95)
    emit(
        f"{label}, direct p50 (lower is better)", direct_p50, "ms", "full scan, ranked", percentile(scan, 0.5)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind in args.databases.split(","):
        opener = fresh_sqlite if kind == "sqlite" else fresh_postgres
        with opener() as url:
            measure(kind, url, args.stations, args.samples)


if __name__ == "__main__":
    main()
