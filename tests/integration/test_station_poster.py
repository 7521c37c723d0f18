"""The station poster PDF: one A4 page with the station's name, address, opening hours and the
instructions in Chinese, and a QR code that a camera reads as the console's scan URL carrying a
poster code: a member checks in with it until the key is rotated, then it is refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from services.registration.app import create_app
from tests.integration.test_registration_stations import station_body
from tests.support.builders import member_body, org_tree
from tests.support.documents import decode_qr_codes, ensure_print_tools, first_page_png, page_count, pdf_text
from tests.support.tokens import ADMIN, bearer

CONSOLE = "https://console.example.cn"


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    ensure_print_tools()
    migrated("registration")
    settings = settings_for("registration", service_urls={"console": CONSOLE})
    return create_app(settings).test_client()


def test_the_poster_prints_the_station_and_a_working_code(client, tmp_path):
    codes = org_tree(client, ADMIN)
    officer = bearer("township_officer", codes["township"])
    body = station_body(codes["township"], name="忠门镇流动党员驿站", kind="station")
    station = client.post("/api/v1/stations", json=body, headers=officer).get_json()

    response = client.get(f"/api/v1/stations/{station['code']}/poster.pdf", headers=officer)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert page_count(response.data, tmp_path) == 1
    text = "".join(pdf_text(response.data, tmp_path).split())
    for expected in (
        "忠门镇流动党员驿站",
        "流动党员驿站",
        "扫码报到",
        "".join(body["address"].split()),
        "9:00-17:00",
    ):
        assert expected in text, expected
    assert "登录" in text and "每天报到一次" in text

    png = first_page_png(response.data, "station-poster")
    found = decode_qr_codes(png)
    assert len(found) == 1, found
    url = urlsplit(found[0])
    assert f"{url.scheme}://{url.netloc}" == CONSOLE and url.path == "/scan"
    token = parse_qs(url.query)["t"][0]

    member = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=ADMIN).get_json()
    me = bearer("member", codes["branch"], member["id"])
    scan = {"member_id": member["id"], "kind": "qr", "qr_token": token}
    first = client.post("/api/v1/checkins", json=scan, headers=me)
    assert first.status_code == 201 and first.get_json()["station_code"] == station["code"]

    rotated = client.post(f"/api/v1/stations/{station['code']}/rotate-key", headers=officer)
    assert rotated.status_code == 200
    stale = client.post("/api/v1/checkins", json=scan, headers=me)
    assert stale.status_code == 422 and "qr_token" in stale.get_json()["errors"]["json"]
    reprinted = client.get(f"/api/v1/stations/{station['code']}/poster.pdf", headers=officer)
    assert decode_qr_codes(first_page_png(reprinted.data, "station-poster-rotated")) != found


def test_only_staff_print_the_poster(client):
    codes = org_tree(client, ADMIN)
    station = client.post("/api/v1/stations", json=station_body(codes["branch"]), headers=ADMIN).get_json()
    path = f"/api/v1/stations/{station['code']}/poster.pdf"
    assert client.get(path, headers=bearer("member", codes["branch"], "m-1")).status_code == 403
    assert (
        client.get(path, headers=bearer("branch_secretary", org_tree(client, ADMIN)["branch"])).status_code
        == 403
    )
    assert client.get(path, headers=bearer("branch_secretary", codes["branch"])).status_code == 200
    assert client.get("/api/v1/stations/NO-SUCH/poster.pdf", headers=ADMIN).status_code == 404
