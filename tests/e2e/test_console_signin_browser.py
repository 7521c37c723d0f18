"""Real sign-in in Chromium against the real stack (every Procfile process, the development
OpenID provider included): a branch secretary signs in at the provider, acts, signs out, and the
old cookie opens nothing; a member signs in on a phone with the SMS code from the file provider."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.fixtures import DESKTOP, PHONE, Screen, browser  # noqa: F401 (fixture)
from tests.browser.support import make_branch
from tests.support.builders import member_body, unique_code
from tests.support.tokens import ADMIN

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def stack(full_stack) -> Any:
    full_stack.wait_ready("console", timeout=60)
    return full_stack


@pytest.fixture(scope="module")
def place(stack) -> dict[str, str]:
    registration = stack.url("registration")
    codes = make_branch(registration)
    # A demo user of the provider becomes this branch's secretary through the staff directory.
    answer = requests.post(
        f"{registration}/api/v1/orgs/{codes['branch']}/staff",
        json={"subject": "sec-lc-md-sx", "name": "刘书记", "role": "branch_secretary"},
        headers=ADMIN,
        timeout=10,
    )
    assert answer.status_code in (201, 409), answer.text
    return codes


def test_a_secretary_signs_in_at_the_provider_acts_and_signs_out_for_good(browser, stack, place):  # noqa: F811
    screen = Screen(browser, stack.url("console"), DESKTOP)
    page = screen.page
    page.goto("/signin")
    page.click("[data-test=oidc-signin]")
    page.wait_for_url(re.compile(r"/interaction/"))
    page.fill("input[name=login]", "sec-lc-md-sx")
    page.fill("input[name=password]", "nuanliu-demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/inbox$|/roster$"))
    assert "刘书记" in page.inner_text("[data-test=who]")
    # Act: the roster of the branch.
    page.goto("/roster")
    assert page.url.endswith("/roster")
    cookies = screen.context.cookies()
    session_cookie = next(cookie for cookie in cookies if cookie["name"] == "nuanliu_session")
    assert "ey" not in session_cookie["value"]  # no token in the cookie
    page.click("header form button")  # 退出 / sign out
    page.wait_for_url(re.compile(r"/signin"))
    screen.assert_no_js_errors()
    screen.close()

    replay = Screen(browser, stack.url("console"), DESKTOP)
    replay.context.add_cookies([{**session_cookie}])
    replay.page.goto("/roster")
    assert "/signin" in replay.page.url
    replay.close()


def latest_code(sms_log: Path, phone: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sms_log.exists():
            lines = [json.loads(line) for line in sms_log.read_text(encoding="utf-8").splitlines()]
            sent = [line for line in lines if line["to"] == phone and "验证码" in line["text"]]
            if sent:
                return re.search(r"\d{6}", sent[-1]["text"]).group(0)  # type: ignore[union-attr]
        time.sleep(0.2)
    raise AssertionError(f"no SMS code for {phone} in {sms_log}")


def test_a_member_signs_in_on_a_phone_with_an_sms_code(browser, stack, place):  # noqa: F811
    registration = stack.url("registration")
    name = f"周敏{unique_code('M')[-4:]}"
    body = member_body(place["branch"], name=name)
    requests.post(f"{registration}/api/v1/members", json=body, headers=ADMIN, timeout=10).raise_for_status()
    screen = Screen(browser, stack.url("console"), PHONE)
    page = screen.page
    page.goto("/signin")
    page.click("[data-test=sms-signin-link]")
    page.fill("[data-test=sms-phone]", body["phone"])
    page.click("[data-test=sms-send]")
    page.wait_for_selector("[data-test=sms-code]")
    code = latest_code(Path(stack.env["NUANLIU_VAR_DIR"]) / "sms.log", body["phone"])
    page.fill("[data-test=sms-code]", code)
    page.click("[data-test=sms-signin]")
    page.wait_for_url(re.compile(r"/me$"))
    assert name in page.inner_text("[data-test=who]")
    screen.shot("member-sms-signin-phone")
    screen.assert_no_js_errors()
    screen.close()
