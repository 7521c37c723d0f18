"""Stations and check-in by scan over HTTP on the real database: create/list/read, codes
(signing, expiry, rotation, replay, forgery), the nearest stations, and the monthly figures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.registration import qr
from services.registration.app import create_app
from services.registration.models import Station, outbox
from shared import clock
from tests.support.builders import member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def station_body(host: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "code": unique_code("ST"),
        "name": "杨村街道流动党员之家",
        "kind": "home",
        "host_org_code": host,
        "region": "120114001",
        "address": "天津市武清区杨村街道泉州北路1号",
        "latitude": 39.3833,
        "longitude": 117.045,
        "open_hours": "周一至周五 9:00-17:00",
    }
    body.update(overrides)
    return body


@pytest.fixture()
def world(client) -> dict[str, object]:
    """A fresh org tree, a station hosted by its township, and a member of its branch."""
    codes = org_tree(client, ADMIN)
    officer = bearer("township_officer", codes["township"])
    response = client.post("/api/v1/stations", json=station_body(codes["township"]), headers=officer)
    assert response.status_code == 201, response.get_json()
    member = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=ADMIN).get_json()
    return {
        "codes": codes,
        "officer": officer,
        "station": response.get_json(),
        "member_id": member["id"],
        "as_member": bearer("member", codes["branch"], member["id"]),
    }


def screen_token(client, world) -> str:
    code = world["station"]["code"]
    response = client.get(f"/api/v1/stations/{code}/qr", headers=world["officer"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def scan(client, world, token: str):  # type: ignore[no-untyped-def]
    body = {"member_id": world["member_id"], "kind": "qr", "qr_token": token}
    return client.post("/api/v1/checkins", json=body, headers=world["as_member"])


def station_key(migrated, code: str) -> tuple[str, int]:
    with migrated("registration").reader() as session:
        station = session.get(Station, code)
        return station.qr_key, station.key_version


# --- stations -----------------------------------------------------------------------------


def test_stations_are_created_in_scope_and_read_by_anyone(client, world):
    codes, station = world["codes"], world["station"]
    assert station["host_org_code"] == codes["township"] and station["kind"] == "home"
    assert "qr_key" not in station
    read = client.get(f"/api/v1/stations/{station['code']}", headers=world["as_member"])
    assert read.status_code == 200 and read.get_json()["name"] == station["name"]
    listed = client.get(f"/api/v1/stations?org={codes['county']}", headers=ADMIN).get_json()["items"]
    assert [s["code"] for s in listed] == [station["code"]]
    assert client.get(f"/api/v1/stations?org={codes['branch']}", headers=ADMIN).get_json()["items"] == []
    assert client.get("/api/v1/stations/NO-SUCH", headers=ADMIN).status_code == 404


def test_who_may_create_a_station_and_what_it_needs(client, world):
    codes = world["codes"]
    other = org_tree(client, ADMIN)
    cases = [
        (bearer("branch_secretary", codes["branch"]), station_body(codes["branch"]), 403),
        (bearer("township_officer", other["township"]), station_body(codes["branch"]), 403),
        (bearer("org_department", codes["county"]), station_body(codes["branch"]), 201),
        (ADMIN, station_body(codes["county"]), 422),  # a county hosts no station
        (ADMIN, station_body("NO-SUCH-ORG"), 422),
        (ADMIN, station_body(codes["branch"], kind="tent"), 422),
        (ADMIN, station_body(codes["branch"], latitude=None), 422),
        (ADMIN, station_body(codes["branch"], code=world["station"]["code"]), 409),
    ]
    for headers, body, status in cases:
        response = client.post("/api/v1/stations", json=body, headers=headers)
        assert response.status_code == status, (body, response.get_json())
    refused = client.post("/api/v1/stations", json=station_body(codes["county"]), headers=ADMIN)
    assert "host_org_code" in refused.get_json()["errors"]["json"]


# --- codes and check-in by scan -----------------------------------------------------------


def test_a_scan_checks_in_at_the_host_once_a_day(client, world, migrated):
    token = screen_token(client, world)
    first = scan(client, world, token)
    assert first.status_code == 201, first.get_json()
    checkin = first.get_json()
    assert checkin["branch_code"] == world["codes"]["township"]
    assert checkin["station_code"] == world["station"]["code"] and checkin["kind"] == "qr"
    again = scan(client, world, screen_token(client, world))
    assert again.status_code == 200 and again.get_json()["id"] == checkin["id"]
    with migrated("registration").reader() as session:
        bodies = session.scalars(
            select(outbox.table.c.body).where(
                outbox.table.c.subject == world["member_id"],
                outbox.table.c.event_type == "registration.member_checked_in.v1",
            )
        ).all()
    assert len(bodies) == 1
    data = json.loads(bodies[0])["data"]
    assert data["station_code"] == world["station"]["code"]
    assert data["station_name"] == world["station"]["name"]
    assert data["home_branch_code"] == world["codes"]["branch"]


def test_a_race_between_two_scans_is_decided_by_the_unique_key(client, world, monkeypatch):
    from services.registration.repositories import CheckinRepository

    first = scan(client, world, screen_token(client, world))
    assert first.status_code == 201
    # As if the second scan read before the first one committed: its insert must still lose.
    real = CheckinRepository.at_station_on
    calls = {"n": 0}

    def blind_once(self, *args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return None if calls["n"] == 1 else real(self, *args)

    monkeypatch.setattr(CheckinRepository, "at_station_on", blind_once)
    second = scan(client, world, screen_token(client, world))
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["id"] == first.get_json()["id"] and calls["n"] == 2


def test_a_screen_code_expires(client, world, monkeypatch):
    service_context = client.application.extensions["nuanliu"]
    monkeypatch.setattr(service_context, "settings", service_context.settings.with_overrides(qr_ttl=timedelta(seconds=1)))
    code = world["station"]["code"]
    issued = client.get(f"/api/v1/stations/{code}/qr", headers=world["officer"]).get_json()
    expires_at = datetime.fromisoformat(issued["expires_at"])
    assert 0 < (expires_at - datetime.now(UTC)).total_seconds() <= 1.5
    assert issued["url"].endswith(f"/scan?t={issued['token']}")
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.2)
    response = scan(client, world, issued["token"])
    assert response.status_code == 422, response.get_json()
    assert "qr_token" in response.get_json()["errors"]["json"]


def test_rotating_the_key_voids_screen_and_poster_codes(client, world, migrated):
    code = world["station"]["code"]
    token = screen_token(client, world)
    key, version = station_key(migrated, code)
    poster = qr.poster_token(key, code, version)
    rotated = client.post(f"/api/v1/stations/{code}/rotate-key", headers=world["officer"])
    assert rotated.status_code == 200 and rotated.get_json()["key_version"] == version + 1
    for old in (token, poster):
        response = scan(client, world, old)
        assert response.status_code == 422 and "qr_token" in response.get_json()["errors"]["json"]
    new_key, new_version = station_key(migrated, code)
    assert new_key != key
    assert scan(client, world, qr.poster_token(new_key, code, new_version)).status_code == 201


def test_forged_and_other_station_codes_are_refused(client, world, migrated):
    codes = world["codes"]
    other = client.post("/api/v1/stations", json=station_body(codes["branch"]), headers=ADMIN).get_json()
    other_code = other["code"]
    other_key, other_version = station_key(migrated, other_code)
    good = screen_token(client, world)
    payload, mac = good.split(".")
    expiry = int(time.time()) + 60
    forged = [
        "not-a-code",
        f"{payload}.{'A' * len(mac)}",
        # Signed with another station's key but naming this station.
        qr.sign(
            other_key, world["station"]["code"], other_version, qr.SCREEN, datetime.fromtimestamp(expiry, UTC)
        ),
        # This station's MAC on the other station's payload.
        qr._b64(f"{other_code}|{other_version}|s|{expiry}".encode()) + "." + mac,
        qr.sign(qr.new_key(), "NO-SUCH-STATION", 1, qr.POSTER, None),
    ]
    for token in forged:
        response = scan(client, world, token)
        assert response.status_code == 422, (token, response.get_json())
        assert "qr_token" in response.get_json()["errors"]["json"]
    missing = client.post(
        "/api/v1/checkins", json={"member_id": world["member_id"], "kind": "qr"}, headers=world["as_member"]
    )
    assert missing.status_code == 422 and "qr_token" in missing.get_json()["errors"]["json"]


def test_only_staff_get_codes_and_only_the_member_scans(client, world):
    code = world["station"]["code"]
    assert client.get(f"/api/v1/stations/{code}/qr", headers=world["as_member"]).status_code == 403
    outsider = bearer("township_officer", org_tree(client, ADMIN)["township"])
    assert client.get(f"/api/v1/stations/{code}/qr", headers=outsider).status_code == 403
    assert client.post(f"/api/v1/stations/{code}/rotate-key", headers=outsider).status_code == 403
    someone_else = bearer("member", world["codes"]["branch"], "someone-else")
    body = {"member_id": world["member_id"], "kind": "qr", "qr_token": screen_token(client, world)}
    assert client.post("/api/v1/checkins", json=body, headers=someone_else).status_code == 403
    secretary = bearer("branch_secretary", world["codes"]["branch"])
    assert client.post("/api/v1/checkins", json=body, headers=secretary).status_code == 403


# --- nearest and figures ------------------------------------------------------------------


def test_nearest_ranks_stations_by_great_circle_distance(client, world):
    host = world["codes"]["branch"]
    # Far from any other test's stations: the South Pacific, 1, 3 and 8 km north of a point.
    lat, lon = -47.0, -140.0
    made = []
    for offset in (0.072, 0.009, 0.027):
        body = station_body(host, latitude=lat + offset, longitude=lon, region="990101")
        made.append(client.post("/api/v1/stations", json=body, headers=ADMIN).get_json()["code"])
    answer = client.get(f"/api/v1/orgs/nearest?lat={lat}&lon={lon}&limit=3", headers=ADMIN).get_json()
    assert [s["code"] for s in answer["stations"]] == [made[1], made[2], made[0]]
    assert [round(s["distance_km"]) for s in answer["stations"]] == [1, 3, 8]
    by_region = client.get("/api/v1/orgs/nearest?region=99010199", headers=ADMIN).get_json()
    assert sorted(s["code"] for s in by_region["stations"]) == sorted(made)
    assert "items" in by_region and by_region["region"] == "99010199"
    lonely = client.get(f"/api/v1/orgs/nearest?lat={lat}", headers=ADMIN)
    assert lonely.status_code == 422 and "lon" in lonely.get_json()["errors"]["query"]
    nothing = client.get("/api/v1/orgs/nearest", headers=ADMIN)
    assert nothing.status_code == 422 and "region" in nothing.get_json()["errors"]["query"]


def test_station_figures_count_check_ins_per_month(client, world):
    codes = world["codes"]
    assert scan(client, world, screen_token(client, world)).status_code == 201
    month = clock.current_month()
    figures = client.get(f"/api/v1/stats/stations?org={codes['county']}&month={month}", headers=ADMIN)
    assert figures.status_code == 200, figures.get_json()
    items = figures.get_json()["items"]
    assert [(i["station_code"], i["checkins"]) for i in items] == [(world["station"]["code"], 1)]
    earlier = client.get(f"/api/v1/stats/stations?org={codes['county']}&month=2020-01", headers=ADMIN)
    assert [i["checkins"] for i in earlier.get_json()["items"]] == [0]
    for bad_month in ("2020-13", "0000-01", "9999-12"):
        bad = client.get(f"/api/v1/stats/stations?org={codes['county']}&month={bad_month}", headers=ADMIN)
        assert bad.status_code == 422 and "month" in bad.get_json()["errors"]["query"], bad_month
    outsider = bearer("township_officer", org_tree(client, ADMIN)["township"])
    assert (
        client.get(
            f"/api/v1/stats/stations?org={codes['county']}&month={month}", headers=outsider
        ).status_code
        == 403
    )
