"""Check-in by scan in a real browser against the real stack (every Procfile process): a member
opens a station's scan URL on a phone-sized page (390×844), is sent to sign in, lands back on
the scan page, confirms 报到 and is checked in at the station; a second confirmation the same
day shows the first. The station's staff see its screen code as a QR. No JavaScript error."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.browser.fixtures import DESKTOP, PHONE, Screen, browser  # noqa: F401 (fixture)
from tests.browser.support import make_branch, make_member
from tests.support.builders import unique_code
from tests.support.tokens import ADMIN, bearer

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def console_stack(full_stack) -> Any:
    full_stack.wait_ready("console", timeout=60)
    return full_stack


@pytest.fixture(scope="module")
def place(console_stack) -> dict[str, str]:
    registration = console_stack.url("registration")
    codes = make_branch(registration)
    suffix = unique_code("S")[-5:]
    body = {
        "code": unique_code("ST"),
        "name": f"新市民之家学习点{suffix}",
        "kind": "home",
        "host_org_code": codes["township"],
        "region": "422802001",
        "address": "湖北省利川市都亭街道滨江社区",
        "open_hours": "周二至周日 9:00-17:30",
    }
    created = requests.post(f"{registration}/api/v1/stations", json=body, headers=ADMIN, timeout=10)
    assert created.status_code == 201, created.text
    return {
        **codes,
        "station": body["code"],
        "station_name": body["name"],
        "member": make_member(registration, codes["branch"], f"陈静{suffix}"),
    }


def scan_path(console_stack, place: dict[str, str]) -> str:
    """What the phone's camera opens, as a path on the console (the QR holds the full URL)."""
    officer = bearer("township_officer", place["township"])
    issued = requests.get(
        f"{console_stack.url('registration')}/api/v1/stations/{place['station']}/qr",
        headers=officer,
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    url = urlsplit(issued.json()["url"])
    assert url.path == "/scan" and url.query.startswith("t=")
    return f"{url.path}?{url.query}"


def test_a_member_scans_signs_in_and_is_checked_in(browser, console_stack, place):  # noqa: F811
    screen = Screen(browser, console_stack.url("console"), PHONE)
    page = screen.page
    try:
        path = scan_path(console_stack, place)
        page.goto(path)
        assert urlsplit(page.url).path == "/signin", page.url
        assert parse_qs(urlsplit(page.url).query)["next"] == [path]
        page.fill("input[name=member_id]", place["member"])
        page.click("[data-test=member-signin]")
        page.wait_for_selector("[data-test=scan]")
        assert page.url.endswith(path), page.url
        assert page.inner_text("[data-test=station-name]") == place["station_name"]
        assert page.get_attribute("[data-test=scan]", "data-state") == "confirm"
        # Phone-sized: the confirm button fits the screen without scrolling sideways.
        box = page.locator("[data-test=scan-confirm]").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        screen.shot("scan-confirm-phone")
        page.click("[data-test=scan-confirm]")
        page.wait_for_selector("[data-test=scan][data-state=done]")
        assert "报到成功" in page.inner_text("[data-test=scan-result]")
        screen.shot("scan-done-phone")

        listed = requests.get(
            f"{console_stack.url('registration')}/api/v1/checkins?member_id={place['member']}",
            headers=ADMIN,
            timeout=10,
        ).json()["items"]
        assert [(c["kind"], c["station_code"], c["branch_code"]) for c in listed] == [
            ("qr", place["station"], place["township"])
        ]

        page.goto(scan_path(console_stack, place))  # the same station again, the same day
        page.click("[data-test=scan-confirm]")
        page.wait_for_selector("[data-test=scan][data-state=already]")
        screen.assert_no_js_errors()
    finally:
        screen.close()


def test_the_station_screen_shows_its_code(browser, console_stack, place):  # noqa: F811
    screen = Screen(browser, console_stack.url("console"), DESKTOP)
    page = screen.page
    try:
        page.goto("/signin")
        page.select_option("select[name=role]", "township_officer")
        page.fill("input[name=org]", place["township"])
        page.fill("input[name=sub]", "officer-screen")
        page.fill("input[name=name]", "刘干事")
        page.click("[data-test=custom-signin]")
        page.goto(f"/stations/{place['station']}/screen")
        page.wait_for_selector("[data-test=screen-code] svg")
        assert place["station_name"] in page.inner_text("[data-test=station-screen]")
        screen.shot("station-screen")
        screen.assert_no_js_errors()
    finally:
        screen.close()
