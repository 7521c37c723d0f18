"""Station codes and distances: signing, expiry, forgery, rotation; the nearest-search box."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.registration import domain, qr

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_a_screen_code_verifies_until_it_expires() -> None:
    key = qr.new_key()
    token, expires_at = qr.screen_token(key, "ST-1", 1, NOW, timedelta(seconds=120))
    assert expires_at == NOW + timedelta(seconds=120)
    claims = qr.verify(token, key, 1, NOW + timedelta(seconds=119))
    assert (claims.station_code, claims.kind, claims.expires_at) == ("ST-1", qr.SCREEN, expires_at)
    with pytest.raises(qr.BadToken, match="expired"):
        qr.verify(token, key, 1, expires_at)


def test_codes_are_compact_and_url_safe() -> None:
    token = qr.poster_token(qr.new_key(), "ST-WQ-YC-HOME", 3)
    assert len(token) < 80
    assert all(ch.isalnum() or ch in "-_." for ch in token)


def test_a_poster_code_lasts_until_the_key_changes() -> None:
    key = qr.new_key()
    token = qr.poster_token(key, "ST-1", 1)
    assert qr.verify(token, key, 1, NOW + timedelta(days=3650)).expires_at is None
    with pytest.raises(qr.BadToken):
        qr.verify(token, qr.new_key(), 2, NOW)  # rotated: new key and version
    with pytest.raises(qr.BadToken):
        qr.verify(token, key, 2, NOW)  # same key, version moved on


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another MAC
        lambda t: qr._b64(b"ST-2|1|p|0") + "." + t.split(".")[1],  # another station, same MAC
        lambda t: qr._b64(b"ST-1|1|s|9999999999") + "." + t.split(".")[1],  # a poster made a screen code
        lambda t: "garbage",
        lambda t: qr._b64(b"ST-1\x00|1|p|0") + "." + t.split(".")[1],  # no station code: never queried
        lambda t: t + ".x",
        lambda t: "",
    ],
)
def test_a_changed_or_made_up_code_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    key = qr.new_key()
    token = qr.poster_token(key, "ST-1", 1)
    with pytest.raises(qr.BadToken):
        qr.verify(tamper(token), key, 1, NOW)


def test_another_stations_key_does_not_verify() -> None:
    token = qr.poster_token(qr.new_key(), "ST-1", 1)
    with pytest.raises(qr.BadToken, match="not issued"):
        qr.verify(token, qr.new_key(), 1, NOW)


def test_haversine_matches_known_distances() -> None:
    # Tianjin Wuqing to Xining: about 1,300 km; one degree of latitude: about 111.2 km.
    assert 1250 < domain.haversine_km(39.38, 117.05, 36.62, 101.76) < 1400
    assert domain.haversine_km(30.0, 100.0, 31.0, 100.0) == pytest.approx(111.2, abs=0.2)


@pytest.mark.parametrize("lat", [0.0, 25.0, 39.4, 60.0, 80.0, -45.0])
@pytest.mark.parametrize("radius", [1.0, 5.0, 80.0, 640.0])
def test_the_box_holds_every_point_within_the_radius(lat: float, radius: float) -> None:
    rng = random.Random(f"{lat}-{radius}")
    lon = 117.0
    box = domain.bounding_box(lat, lon, radius)
    for _ in range(400):
        # A random point at a random bearing, at most `radius` away (the destination formula).
        bearing, distance = rng.uniform(0, 2 * math.pi), rng.uniform(0, radius)
        d = distance / domain.EARTH_RADIUS_KM
        p1, l1 = math.radians(lat), math.radians(lon)
        p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
        l2 = l1 + math.atan2(
            math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
        )
        plat, plon = math.degrees(p2), math.degrees(l2)
        assert domain.haversine_km(lat, lon, plat, plon) <= radius + 1e-6
        assert box.min_lat <= plat <= box.max_lat
        assert box.bands is None or domain.latitude_band(plat) in box.bands
        if box.min_lon is not None and box.max_lon is not None:
            assert box.min_lon <= plon <= box.max_lon


def test_a_box_over_the_antimeridian_or_a_pole_drops_the_longitude_bound() -> None:
    assert domain.bounding_box(10.0, 179.9, 50).min_lon is None
    assert domain.bounding_box(89.9, 0.0, 50).min_lon is None


def test_latitude_bands_are_tenths_of_a_degree_and_a_huge_box_lists_none() -> None:
    assert [domain.latitude_band(x) for x in (39.38, -0.05, 0.0, -47.0)] == [393, -1, 0, -470]
    assert domain.bounding_box(39.4, 117.0, 20).bands == [392, 393, 394, 395]  # 39.22° to 39.58°
    assert domain.bounding_box(39.4, 117.0, 5000).bands is None
