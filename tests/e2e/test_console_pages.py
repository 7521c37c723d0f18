"""The console's pages over HTTP (no browser) against the real stack: sign-in, errors next to
fields, masked roster with pagination, ledger export and import preview, notifications, preferences."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest
import requests

from tests.browser.support import make_branch, make_member
from tests.support.builders import member_body
from tests.support.console_http import ConsoleSession
from tests.support.tokens import ADMIN

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def console(full_stack) -> str:
    full_stack.wait_ready("console", timeout=60)
    return full_stack.url("console")


@pytest.fixture(scope="module")
def registration(full_stack) -> str:
    return full_stack.url("registration")


@pytest.fixture(scope="module")
def place(registration) -> dict[str, str]:
    return make_branch(registration)


def signed_in(console: str, **form: str) -> requests.Session:
    browser = ConsoleSession(console)
    response = browser.post(f"{console}/signin", data=form, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[-500:]
    return browser


def as_member(console: str, member_id: str) -> requests.Session:
    return signed_in(console, member_id=member_id)


def as_staff(console: str, role: str, org: str) -> requests.Session:
    return signed_in(console, role=role, org=org, sub=f"{role}-{org}", name=f"测试{role}")


def test_health_readiness_and_sign_in_first(console):
    assert requests.get(f"{console}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{console}/readyz", timeout=5).json()["status"] == "ready"
    response = requests.get(f"{console}/me", allow_redirects=False, timeout=5)
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin?next=/me")


def test_demo_identities_sign_in_and_show_who_and_where(console):
    page = requests.get(f"{console}/signin", timeout=10).text
    assert "武清" in page and "利川" in page and 'data-test="demo-sec-wq-yc-01"' in page
    browser = signed_in(console, demo="sec-wq-yc-01")
    inbox = browser.get(f"{console}/inbox", timeout=10)
    assert inbox.status_code == 200
    assert "王书记" in inbox.text and "TJ-WQ-YC-01" in inbox.text and "支部书记" in inbox.text


def test_unknown_member_id_is_refused_in_plain_words(console):
    response = ConsoleSession(console).post(f"{console}/signin", data={"member_id": "no-such-member"}, timeout=10)
    assert response.status_code == 400
    assert "没有这个党员编号" in response.text


def test_outflow_errors_sit_next_to_their_fields_and_keep_what_was_typed(console, registration, place):
    member_id = make_member(registration, place["branch"], "周敏")
    browser = as_member(console, member_id)
    typed = {
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区灵芝街道",
        "occupation": "电工",
        "departed_on": "not-a-date",
        "contact_phone": "13800001111",
    }
    response = browser.post(f"{console}/me/outflow", data=typed, timeout=10)
    assert response.status_code == 422
    assert re.search(r'data-field-error="departed_on">[^<]*日期', response.text)
    assert 'data-field-error="reason">此项为必填项' in response.text
    assert 'value="浙江省绍兴市越城区灵芝街道"' in response.text
    assert "Traceback" not in response.text

    response = browser.post(
        f"{console}/me/outflow", data={**typed, "departed_on": "2026-03-01", "reason": "务工"}, timeout=10
    )
    assert response.status_code == 200  # followed the redirect to the status page
    assert "流动党员活动证编号" in response.text
    assert re.search(r'data-test="mobile">是<', response.text)


def test_roster_masks_personal_data_and_paginates(console, registration):
    branch = make_branch(registration)["branch"]
    for index in range(26):
        make_member(registration, branch, f"名册{index:02d}")
    browser = as_staff(console, "branch_secretary", branch)
    first = browser.get(f"{console}/roster", timeout=10).text
    rows = re.findall(r'<tr data-member="([^"]+)">', first)
    assert len(rows) == 25
    phones = re.findall(r"<td[^>]*>(1\d\d\*{4}\d{4})</td>", first)
    assert len(phones) == 25, "phones are masked in the roster"
    next_link = re.search(r'href="(/roster\?[^"]*cursor=[^"]+)"', first)
    assert next_link, "a long roster has a next page"
    second = browser.get(console + next_link.group(1).replace("&amp;", "&"), timeout=10).text
    assert len(re.findall(r'<tr data-member="', second)) == 1
    previous = re.search(r'href="(/roster[^"]*)" data-test="previous-page"', second)
    assert previous, "a later page links back to the one before"
    again = browser.get(console + previous.group(1).replace("&amp;", "&"), timeout=10).text
    assert re.findall(r'<tr data-member="([^"]+)">', again) == rows


def test_grid_survey_checkin_updates_the_roster(console, registration, place):
    member_id = make_member(registration, place["branch"], "网格走访对象")
    browser = as_staff(console, "branch_secretary", place["branch"])
    response = browser.post(
        f"{console}/roster/checkin",
        data={"member_id": member_id, "branch_code": place["branch"], "note": "入户走访"},
        timeout=10,
    )
    assert response.status_code == 200 and "报到成功" in response.text
    bad = browser.post(f"{console}/roster/checkin", data={"branch_code": place["branch"]}, timeout=10)
    assert bad.status_code == 422 and 'data-field-error="member_id"' in bad.text


def test_ledger_exports_and_import_preview_names_bad_rows(console, registration, place):
    browser = as_staff(console, "branch_secretary", place["branch"])
    exported = browser.get(f"{console}/ledger/export.csv", timeout=20)
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    title, header = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))[:2]
    assert title[0].startswith("流动党员台账（") and "所在支部代码" in header and "流入地区划代码" in header
    workbook = browser.get(f"{console}/ledger/export.xlsx", timeout=20)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"

    good = member_body(place["branch"], name="导入甲")
    bad = member_body(place["branch"], name="导入乙", birth_date="1990-13-45")
    columns = list(good)
    sheet = io.StringIO()
    writer = csv.DictWriter(sheet, fieldnames=columns)
    writer.writeheader()
    writer.writerow(good)
    writer.writerow(bad)
    preview = browser.post(
        f"{console}/ledger/import",
        data={"branch": place["branch"], "dry_run": "true"},
        files={"file": ("members.csv", sheet.getvalue().encode())},
        timeout=20,
    )
    assert preview.status_code == 200, preview.text[-800:]
    assert 'data-test="import-result"' in preview.text
    assert re.search(r'<tr class="invalid"><td>2</td><td>birth_date</td>', preview.text)
    assert "确认导入" not in preview.text  # nothing to confirm while rows are wrong

    only_good = io.StringIO()
    writer = csv.DictWriter(only_good, fieldnames=columns)
    writer.writeheader()
    writer.writerow(good)
    preview = browser.post(
        f"{console}/ledger/import",
        data={"branch": place["branch"], "dry_run": "true"},
        files={"file": ("members.csv", only_good.getvalue().encode())},
        timeout=20,
    )
    file_b64 = re.search(r'name="file_b64" value="([^"]+)"', preview.text)
    assert file_b64, preview.text[-800:]
    done = browser.post(
        f"{console}/ledger/import",
        data={
            "branch": place["branch"],
            "dry_run": "false",
            "file_b64": file_b64.group(1),
            "filename": "m.csv",
        },
        timeout=20,
    )
    assert done.status_code == 200 and re.search(r"已导入: 1", done.text), done.text[-800:]


def test_checkin_reaches_the_secretary_with_an_unread_badge(console, registration, place):
    member_id = make_member(registration, place["branch"], "徽标测试")
    member = as_member(console, member_id)
    fragment = member.post(f"{console}/me/checkin", headers={"HX-Request": "true"}, timeout=10)
    assert fragment.status_code == 200 and 'data-test="checkin-done"' in fragment.text
    secretary = as_staff(console, "branch_secretary", place["branch"])
    deadline = time.monotonic() + 30
    badge = ""
    while time.monotonic() < deadline and "data-unread" not in badge:
        badge = secretary.get(f"{console}/notifications/badge", timeout=10).text
        time.sleep(0.3)
    assert re.search(r'data-unread="\d+"', badge), "the secretary sees an unread badge"
    listing = secretary.get(f"{console}/notifications?unread=true", timeout=10).text
    assert "徽标测试" in listing
    notification_id = re.search(r'id="n-([^"]+)"', listing).group(1)
    marked = secretary.post(
        f"{console}/notifications/{notification_id}/read", headers={"HX-Request": "true"}, timeout=10
    )
    assert marked.status_code == 200 and "unread" not in marked.text and "已读" in marked.text


def test_preferences_save_and_name_what_is_missing(console, registration, place):
    member_id = make_member(registration, place["branch"], "偏好测试")
    browser = as_member(console, member_id)
    typed = {"channel_email": "on", "quiet_start": "22:00", "quiet_end": "07:00", "locale": "zh-CN"}
    refused = browser.post(f"{console}/preferences", data=typed, timeout=10)
    assert refused.status_code == 422 and 'data-field-error="email"' in refused.text  # e-mail needs an address
    assert "此项为必填项" in refused.text and 'value="22:00"' in refused.text
    # A member's SMS goes to their registered phone: no number to type.
    sms = {**typed, "channel_email": "", "channel_sms": "on"}
    saved = browser.post(f"{console}/preferences", data=sms, timeout=10)
    assert saved.status_code == 200 and "设置已保存" in saved.text
    assert re.search(r'name="channel_sms"\s+checked', saved.text) and 'name="phone"' not in saved.text
    # The e-mail switch and the address are two fields: the address is kept as typed, not "on".
    mail = {**typed, "email": "dangyuan@example.org"}
    saved = browser.post(f"{console}/preferences", data=mail, timeout=10)
    assert saved.status_code == 200 and "设置已保存" in saved.text, saved.text[-800:]
    assert re.search(r'name="channel_email"\s+checked', saved.text) and 'value="dangyuan@example.org"' in saved.text
    bad = browser.post(
        f"{console}/preferences", data={"quiet_start": "25:99", "quiet_end": "07:00"}, timeout=10
    )
    assert bad.status_code == 422 and 'data-field-error="quiet_hours"' in bad.text


def test_errors_are_plain_pages_and_roles_are_kept_apart(console, registration, place):
    member_id = make_member(registration, place["branch"], "权限测试")
    member = as_member(console, member_id)
    missing = member.get(f"{console}/transfers/01NOSUCHTRANSFER", timeout=10)
    assert missing.status_code == 404 and "没有找到该记录" in missing.text and "Traceback" not in missing.text
    assert member.get(f"{console}/inbox", timeout=10).status_code == 403
    member.get(f"{console}/lang/en", timeout=10)
    english = member.get(f"{console}/me", timeout=10).text
    assert "My status" in english and "Check in now" in english


def test_a_member_finds_a_branch_near_them_instead_of_knowing_its_code(console, registration, place):
    region = f"99{int(time.time() * 1000) % 10**7:07d}"
    response = requests.post(
        f"{registration}/api/v1/orgs",
        json={
            "code": f"NB-{region}",
            "name": "附近的流动党员党支部",
            "level": "branch",
            "parent_code": place["township"],
            "region": region,
        },
        headers=ADMIN,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    member = as_member(console, make_member(registration, place["branch"], "找支部"))
    found = member.get(f"{console}/branches/nearest", params={"region": region}, timeout=10).text
    assert f'data-code="NB-{region}"' in found and "附近的流动党员党支部" in found
    refused = member.get(f"{console}/branches/nearest", params={"region": "绍兴"}, timeout=10).text
    assert 'data-field-error="region"' in refused
    form = member.get(f"{console}/transfers/new", params={"to_branch_code": f"NB-{region}"}, timeout=10).text
    assert f'value="NB-{region}"' in form
