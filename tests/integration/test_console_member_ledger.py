"""The console's member page shows the open outflow and the dues payments (issue 18, part A)."""

from __future__ import annotations

from flask import render_template

from services.console.app import create_app
from shared.settings import Settings

MEMBER = {
    "id": "01JAAAAAAAAAAAAAAAAAAAAAAA",
    "name": "谭明",
    "branch_code": "HB-LC-MD-01",
    "mobile": True,
    "lost_contact": False,
    "last_contact_at": None,
    "dues_paid_through": "2026-11",
    "open_outflow": {
        "id": "01JBBBBBBBBBBBBBBBBBBBBBBB",
        "activity_card_no": "LC-2026-000123",
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区灵芝街道",
        "departed_on": "2026-09-01",
        "expected_return_on": None,
    },
}
DUES = [{"paid_through": "2026-11", "amount": "12.50", "paid_on": "2026-12-01"}]


def render(**context: object) -> str:
    settings = Settings(
        service="console",
        service_urls={name: "http://127.0.0.1:9" for name in ("registration", "transfer", "tasks", "notify")},
    )
    app = create_app(settings)
    with app.test_request_context("/me"):
        return render_template("status.html", checkins=[], **context)


def test_the_member_page_shows_the_open_outflow_and_dues():
    page = render(member=MEMBER, dues=DUES, province="浙江")
    assert "LC-2026-000123" in page and "浙江 浙江省绍兴市越城区灵芝街道" in page
    assert "2026-09-01" in page and "¥12.50" in page and "党费缴纳记录" in page


def test_no_outflow_section_once_back():
    page = render(member={**MEMBER, "mobile": False, "open_outflow": None}, dues=[], province="")
    assert 'data-test="open-outflow"' not in page and 'data-test="dues-payments"' not in page
