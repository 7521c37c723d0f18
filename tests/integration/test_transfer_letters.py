"""The introduction letter as paper (issue 20), on the real transfer process: the PDF's three
parts and particulars, its QR followed to the public verification, and the letter's status as the
transfer moves on (valid → used; expired → superseded after a re-issue); wrong codes and floods.

The stack is test_transfer_api's: a Temporal dev server, the transfer worker, registration on a
local port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from services.console.app import create_app as create_console_app
from services.transfer.app import create_app
from services.transfer.models import audit_log
from shared.clock import current_month
from shared.settings import Settings
from tests.integration import test_transfer_api as transfer_stack
from tests.integration.test_transfer_api import apply_for_member, decide, new_org
from tests.support.builders import id_number, member_body
from tests.support.console_http import csrf_header
from tests.support.documents import decode_qr_codes, ensure_print_tools, first_page_png, page_count, pdf_text
from tests.support.tokens import ADMIN, bearer

pytestmark = pytest.mark.usefixtures("print_tools")
# The stack's fixtures, shared with test_transfer_api (module-scoped: this module gets its own).
live = transfer_stack.live
registration_url = transfer_stack.registration_url
tree = transfer_stack.tree


@pytest.fixture(scope="module")
def print_tools() -> None:
    ensure_print_tools()


def zhu_ming(registration: str, branch: str) -> str:
    body = member_body(
        branch,
        name="朱明",
        gender="female",
        birth_date="1988-03-09",
        status="probationary",
        dues_paid_through=current_month(),
    )

    body["id_number"] = id_number(date(1988, 3, 9))
    response = requests.post(f"{registration}/api/v1/members", json=body, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def issued_letter(
    live: FlaskClient, registration: str, tree: dict[str, str]
) -> tuple[str, str, dict[str, Any]]:
    """A same-county transfer of 朱明 from B1 to B2 driven to `letter_issued`: (id, member, view)."""
    member_id = zhu_ming(registration, tree["B1"])
    transfer_id, _ = apply_for_member(live, tree["B1"], member_id, tree["B2"])
    pdf_early = live.get(f"/api/v1/transfers/{transfer_id}/letter.pdf", headers=ADMIN)
    assert pdf_early.status_code == 409, pdf_early.get_json()
    for headers in (
        bearer("branch_secretary", tree["B1"]),
        bearer("township_officer", tree["T1"]),
        bearer("branch_secretary", tree["B2"]),
    ):
        decide(live, transfer_id, headers)
    view = live.get(f"/api/v1/transfers/{transfer_id}", headers=ADMIN).get_json()
    assert view["status"] == "letter_issued"
    return transfer_id, member_id, view


def verify(live: FlaskClient, number: str, code: str, address: str = "10.0.0.1") -> Any:
    return live.get(
        f"/api/v1/letters/{number}", query_string={"code": code}, environ_base={"REMOTE_ADDR": address}
    )


def test_the_letter_prints_three_parts_and_its_qr_verifies(live, registration_url, tree, migrated, tmp_path):
    transfer_id, member_id, view = issued_letter(live, registration_url, tree)
    letter = view["letter"]
    member = bearer("member", tree["B1"], member_id)
    response = live.get(f"/api/v1/transfers/{transfer_id}/letter.pdf", headers=member)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert page_count(response.data, tmp_path) == 1  # one A4 sheet, cut in three

    text = pdf_text(response.data, tmp_path)
    squeezed = "".join(text.split())
    for part in ("中国共产党党员组织关系介绍信（存根）", "中国共产党党员组织关系介绍信（回执）", "兹介绍"):
        assert part in squeezed
    assert squeezed.count(letter["number"]) >= 3  # the serial on each part
    registered = requests.get(
        f"{registration_url}/api/v1/members/{member_id}", headers=ADMIN, timeout=10
    ).json()
    for particular in ("朱明", "女", "预备党员", registered["id_number"], "党费交到"):
        assert particular in squeezed, particular
    assert f"{letter['dues_paid_through'][:4]}年{int(letter['dues_paid_through'][5:])}月" in squeezed
    age = int(letter["issued_on"][:4]) - 1988 - (letter["issued_on"][5:] < "03-09")
    assert f"{age}岁" in squeezed
    issued, valid = (letter[key].split("-") for key in ("issued_on", "valid_until"))
    assert f"{issued[0]}年{int(issued[1])}月{int(issued[2])}日" in squeezed
    assert f"{valid[0]}年{int(valid[1])}月{int(valid[2])}日" in squeezed
    # Sending and receiving branches, and the issuing county (whose serial it is), by name.
    for name in (f"branch{tree['B1']}", f"branch{tree['B2']}", f"county{tree['C1']}"):
        assert name in squeezed, name
    assert "（盖章）" in squeezed and "沿此线剪开" in squeezed

    # A phone reads the QR off the printed page: the URL is the transfer's verification_url.
    png = first_page_png(response.data, "transfer-letter")
    urls = decode_qr_codes(png)
    assert urls and set(urls) == {letter["verification_url"]}
    query = parse_qs(urlsplit(urls[0]).query)
    assert urlsplit(urls[0]).path == "/verify" and query["n"] == [letter["number"]]
    answer = verify(live, query["n"][0], query["c"][0])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "number": letter["number"],
        "status": "valid",
        "issued_on": letter["issued_on"],
        "valid_until": letter["valid_until"],
        "issuing_org_name": f"county {tree['C1']}",
        "receiving_org_name": f"branch {tree['B2']}",
        "member_name_masked": "朱*",
    }
    # The code belongs to this number only; a wrong one and an unknown number are the same 404.
    assert verify(live, letter["number"], "a" * 16).status_code == 404
    assert verify(live, letter["number"][:-1] + "9", query["c"][0]).status_code == 404
    assert live.get(f"/api/v1/letters/{letter['number']}").status_code == 422  # code is required

    # The read is audited with the reader, never the particulars.
    database = migrated("transfer")
    with database.reader() as session:
        rows = session.execute(
            audit_log.select().where(
                audit_log.c.object_id == transfer_id, audit_log.c.action == "read_letter"
            )
        ).all()
    assert [(row.actor, row.actor_role) for row in rows] == [(member_id, "member")]
    assert registered["id_number"] not in str([tuple(row) for row in rows])

    # After the member reports in, the same letter verifies as used.
    reported = live.post(f"/api/v1/transfers/{transfer_id}/report", json={}, headers=member)
    assert reported.status_code == 200 and reported.get_json()["status"] == "completed"
    assert verify(live, query["n"][0], query["c"][0]).get_json()["status"] == "used"


def test_who_may_print_the_letter(live, registration_url, tree):
    transfer_id, member_id, _ = issued_letter(live, registration_url, tree)
    url = f"/api/v1/transfers/{transfer_id}/letter.pdf"
    assert live.get(url).status_code == 401
    for allowed in (
        bearer("branch_secretary", tree["B2"]),
        bearer("org_department", tree["C1"]),
        bearer("township_officer", tree["T2"]),
    ):
        assert live.get(url, headers=allowed).status_code == 200
    for refused in (
        bearer("member", tree["B1"], "someone-else"),
        bearer("branch_secretary", tree["B3"]),
        bearer("org_department", tree["C2"]),
    ):
        assert live.get(url, headers=refused).status_code == 403
    assert live.get("/api/v1/transfers/nope/letter.pdf", headers=ADMIN).status_code == 404
    # Who reads the transfer sees what its QR encodes.
    view = live.get(f"/api/v1/transfers/{transfer_id}", headers=bearer("member", tree["B1"], member_id))
    assert view.get_json()["letter"]["verification_url"].startswith("http")


def test_a_reissued_letter_prints_its_new_serial_and_the_old_one_is_superseded(
    live, registration_url, tree, tmp_path
):
    far = new_org(registration_url, "province", "CN")
    far_county = new_org(registration_url, "county", far)
    far_branch = new_org(registration_url, "branch", new_org(registration_url, "township", far_county))
    member_id = zhu_ming(registration_url, tree["B1"])
    transfer_id, _ = apply_for_member(live, tree["B1"], member_id, far_branch)
    url = f"/api/v1/transfers/{transfer_id}"
    for headers in (
        bearer("branch_secretary", tree["B1"]),
        bearer("township_officer", tree["T1"]),
        bearer("org_department", tree["C1"]),
        bearer("org_department", far_county),  # issue 21: the receiving county
        bearer("branch_secretary", far_branch),
    ):
        decide(live, transfer_id, headers)
    first = live.get(url, headers=ADMIN).get_json()["letter"]
    old_code = parse_qs(urlsplit(first["verification_url"]).query)["c"][0]
    deadline = time.monotonic() + 30
    while live.get(url, headers=ADMIN).get_json()["status"] != "expired" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert verify(live, first["number"], old_code).get_json()["status"] == "expired"

    sending = bearer("branch_secretary", tree["B1"])
    reissued = live.post(f"{url}/reissue", json={"reason": "到期未报到"}, headers=sending)
    assert reissued.status_code == 200, reissued.get_json()
    second = reissued.get_json()["letter"]
    assert second["number"] != first["number"]
    assert verify(live, first["number"], old_code).get_json()["status"] == "superseded"
    new_code = parse_qs(urlsplit(second["verification_url"]).query)["c"][0]
    assert new_code != old_code
    assert verify(live, second["number"], new_code).get_json()["status"] == "valid"

    pdf = live.get(f"{url}/letter.pdf", headers=sending)
    assert pdf.status_code == 200
    squeezed = "".join(pdf_text(pdf.data, tmp_path).split())
    assert second["number"] in squeezed and first["number"] not in squeezed
    cancelled = live.post(
        f"{url}/cancel", json={"reason": "不调了"}, headers=bearer("member", tree["B1"], member_id)
    )
    assert cancelled.status_code == 200, cancelled.get_json()
    # Withdrawn before the report-in: the letter no longer stands.
    assert verify(live, second["number"], new_code).get_json()["status"] == "cancelled"
    # Withdrawn before the report-in: the letter no longer stands.
    assert verify(live, second["number"], new_code).get_json()["status"] == "cancelled"


def test_verification_is_rate_limited_per_client(
    settings_for: Callable[..., Settings], migrated: Any, registration_url: str, monkeypatch
):
    migrated("transfer")
    monkeypatch.setenv("NUANLIU_LETTER_VERIFY_RATE", "5/minute")
    app = create_app(settings_for("transfer", service_urls={"registration": registration_url}))
    client = app.test_client()

    def status(address: str, headers: dict[str, str] | None = None) -> int:
        response = client.get(
            "/api/v1/letters/XX-2026-000001?code=wrongwrongwrong1",
            headers=headers or {},
            environ_base={"REMOTE_ADDR": address},
        )
        return response.status_code

    assert [status("10.1.1.1") for _ in range(5)] == [404] * 5
    limited = client.get("/api/v1/letters/XX-2026-000001?code=x", environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert limited.status_code == 429 and limited.headers.get("Retry-After")
    assert status("10.1.1.2") == 404  # another client has its own allowance
    # A forwarded address is believed only from a service (the console), not from anyone.
    assert status("10.1.1.1", {"X-Forwarded-For": "203.0.113.9"}) == 429
    console = {"X-Forwarded-For": "203.0.113.9", **_service_headers(settings_for)}
    assert status("10.1.1.1", console) == 404


def _service_headers(settings_for: Callable[..., Settings]) -> dict[str, str]:
    from shared.auth import service_token

    return {"Authorization": f"Bearer {service_token(settings_for('transfer').jwt_secret, 'console')}"}


def serve(app: Any, name: str) -> tuple[str, Callable[[], None]]:
    """An app on a free local port: (its URL, how to stop it)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture(scope="module")
def console_app(live: FlaskClient, registration_url: str) -> Iterator[Any]:
    """The console in-process, in front of the live transfer app served on a local port."""
    transfer_url, stop = serve(live.application, "transfer-api")
    urls = {"registration": registration_url, "transfer": transfer_url}
    yield create_console_app(Settings(service="console", service_urls=urls))
    stop()


@pytest.fixture(scope="module")
def console(console_app: Any) -> FlaskClient:
    return console_app.test_client()


def test_the_console_verifies_what_the_qr_opens_and_prints_the_letter(live, registration_url, tree, console):
    transfer_id, member_id, view = issued_letter(live, registration_url, tree)
    url = urlsplit(view["letter"]["verification_url"])
    # A phone opens the QR's URL: no sign-in, one large answer in Chinese, the name masked.
    page = console.get(f"{url.path}?{url.query}", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-status="valid"' in text
    assert ">有效<" in text and "朱*" in text and "朱明" not in text
    wrong = console.get(f"/verify?n={view['letter']['number']}&c=aaaaaaaaaaaaaaaa")
    assert wrong.status_code == 404 and "未查到" in wrong.get_data(as_text=True)

    # The member signs in: the transfer page offers 打印介绍信, which opens the PDF.
    signed = console.post("/signin", data={"member_id": member_id}, headers=csrf_header(console))
    assert signed.status_code == 302
    detail = console.get(f"/transfers/{transfer_id}").get_data(as_text=True)
    assert "打印介绍信" in detail and f"/transfers/{transfer_id}/letter.pdf" in detail
    assert "print.css" in detail  # the print stylesheet that drops menus and buttons
    pdf = console.get(f"/transfers/{transfer_id}/letter.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")

    reported = live.post(
        f"/api/v1/transfers/{transfer_id}/report", json={}, headers=bearer("member", tree["B1"], member_id)
    )
    assert reported.status_code == 200
    used = console.get(f"{url.path}?{url.query}").get_data(as_text=True)
    assert 'data-status="used"' in used and ">已使用<" in used


def test_printing_the_transfer_page_prints_the_letter_without_menus_or_buttons(
    live, registration_url, tree, console_app, tmp_path
):
    """Chromium prints the console's transfer page as a member would (Ctrl-P → PDF)."""
    from tests.browser.fixtures import CHROMIUM, LAUNCH_ARGS, ensure_chromium

    playwright_api = pytest.importorskip("playwright.sync_api")
    ensure_chromium()
    transfer_id, member_id, view = issued_letter(live, registration_url, tree)
    console_url, stop = serve(console_app, "console")
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
            )
            page = browser.new_page(base_url=console_url, locale="zh-CN")
            page.goto("/signin")
            page.fill("input[name=member_id]", member_id)
            page.locator("input[name=member_id]").press("Enter")
            page.wait_for_url("**/me")
            page.goto(f"/transfers/{transfer_id}")
            assert page.locator("[data-test=print-letter]").is_visible()  # on screen, the button is there
            pdf = page.pdf(format="A4")
            browser.close()
    finally:
        stop()
    printed = "".join(pdf_text(pdf, tmp_path).split())
    assert view["letter"]["number"] in printed and "朱明" in printed
    for menu_or_button in (
        "我的状态",
        "实事领办",
        "消息",
        "通知设置",
        "退出",
        "English",
        "打印介绍信",
        "我已到接收支部报到",
    ):
        assert menu_or_button not in printed, menu_or_button
