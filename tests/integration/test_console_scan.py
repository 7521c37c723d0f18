"""The console's scan pages in-process, in front of the registration API served on a local port:
a member not signed in is sent to sign in and back to the scan page, confirms, and is checked
in once a day; a code from no station, or an expired one, gets a plain page; a station's staff
see the screen code as a QR that schedules its own refresh before it expires."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.serving import make_server

from services.console.app import create_app as create_console
from services.console.views_common import own_path
from services.registration.app import create_app as create_registration
from tests.integration.test_registration_stations import station_body
from tests.support.builders import member_body, org_tree
from tests.support.console_http import csrf_header
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def registration(settings_for, migrated) -> Iterator[tuple[str, Any]]:
    migrated("registration")
    app = create_registration(settings_for("registration"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="registration-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app.test_client()
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture()
def scene(registration, settings_for) -> dict[str, Any]:
    url, api = registration
    codes = org_tree(api, ADMIN)
    station = api.post(
        "/api/v1/stations", json=station_body(codes["township"], name="甲镇流动党员之家"), headers=ADMIN
    )
    member = api.post("/api/v1/members", json=member_body(codes["branch"], name="张红"), headers=ADMIN)
    settings = settings_for("console", service_urls={"registration": url, "console": "http://console.test"})
    return {
        "api": api,
        "codes": codes,
        "station": station.get_json(),
        "member": member.get_json(),
        "console": create_console(settings).test_client(),
    }


def csrf_post(client: Any, path: str, **kwargs: Any) -> Any:
    """A form post as the browser sends it: with the session's CSRF token (Flask-WTF)."""
    return client.post(path, headers=csrf_header(client), **kwargs)


def screen_token(scene: dict[str, Any]) -> str:
    officer = bearer("township_officer", scene["codes"]["township"])
    return (
        scene["api"]
        .get(f"/api/v1/stations/{scene['station']['code']}/qr", headers=officer)
        .get_json()["token"]
    )


def test_a_member_signs_in_and_lands_back_on_the_scan_page(scene):
    console, token = scene["console"], screen_token(scene)
    opened = console.get(f"/scan?t={quote(token)}")
    assert opened.status_code == 302 and "/signin?next=" in opened.headers["Location"]
    signed = csrf_post(console, opened.headers["Location"], data={"member_id": scene["member"]["id"]})
    assert signed.status_code == 302, signed.get_data(as_text=True)
    assert signed.headers["Location"] == f"/scan?t={token}"
    page = console.get(signed.headers["Location"]).get_data(as_text=True)
    assert "甲镇流动党员之家" in page and 'data-state="confirm"' in page and ">报到</button>" in page

    done = csrf_post(console, "/scan", data={"t": token}).get_data(as_text=True)
    assert 'data-state="done"' in done and "报到成功" in done
    again = csrf_post(console, "/scan", data={"t": screen_token(scene)}).get_data(as_text=True)
    assert 'data-state="already"' in again and "今天已在此报到" in again
    listed = scene["api"].get(f"/api/v1/checkins?member_id={scene['member']['id']}", headers=ADMIN).get_json()
    assert [c["station_code"] for c in listed["items"]] == [scene["station"]["code"]]


def test_unknown_and_refused_codes_get_a_plain_page(scene):
    console = scene["console"]
    csrf_post(console, "/signin", data={"member_id": scene["member"]["id"]})
    unknown = console.get("/scan?t=not-a-code")
    assert unknown.status_code == 404 and 'data-state="invalid"' in unknown.get_data(as_text=True)
    payload, mac = screen_token(scene).split(".")
    forged = csrf_post(console, "/scan", data={"t": f"{payload}.{'A' * len(mac)}"})
    assert forged.status_code == 422 and "二维码已失效" in forged.get_data(as_text=True)


def test_staff_see_a_screen_code_that_refreshes_before_it_expires(scene):
    console, code = scene["console"], scene["station"]["code"]
    csrf_post(console,
        "/signin",
        data={"role": "township_officer", "org": scene["codes"]["township"], "sub": "o1", "name": "刘"},
    )
    page = console.get(f"/stations/{code}/screen")
    assert page.status_code == 200, page.get_data(as_text=True)
    text = page.get_data(as_text=True)
    assert "甲镇流动党员之家" in text and "<svg" in text
    delay = int(re.search(r'hx-trigger="load delay:(\d+)s"', text).group(1))
    expires = datetime.fromisoformat(re.search(r'data-expires="([^"]+)"', text).group(1))
    left = (expires - datetime.now(UTC)).total_seconds()
    assert 0 < delay < left  # the next code is fetched while the shown one still works
    fragment = console.get(f"/stations/{code}/screen/code").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div class="screen-code"') and "<svg" in fragment

    member = scene["console"].application.test_client()
    csrf_post(member, "/signin", data={"member_id": scene["member"]["id"]})
    assert member.get(f"/stations/{code}/screen").status_code == 403


@pytest.mark.parametrize(
    ("target", "ours"),
    [
        ("/scan?t=abc.def", True),
        ("/members/1", True),
        ("//evil.example/x", False),
        ("/\\evil.example", False),
        ("/\t/evil.example", False),
        ("https://evil.example/", False),
        ("scan", False),
        ("", False),
    ],
)
def test_sign_in_returns_only_to_our_own_paths(target, ours):
    assert own_path(target) is ours
