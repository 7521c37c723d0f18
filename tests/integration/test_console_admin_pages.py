"""The console's desk lists and admin pages (issue 22, second part) against a recording stand-in
for the APIs: what each page asks (paths and query strings, encoded), what it shows (Chinese,
names, only the actions the person may take), and a refusal said above an intact page."""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.console.app import create_app
from services.console.dashboards import this_month
from shared.settings import Settings
from tests.support.console_http import csrf_header

BRANCH = "ZJ-SX-YC-LZ-01"
COUNTY = "ZJ-SX-YC"
MEMBER = {
    "id": "01JAAAAAAAAAAAAAAAAAAAAAAA", "name": "谭明", "branch_code": "HB-LC-MD-01", "mobile": True,
    "lost_contact": True, "last_contact_at": None, "dues_paid_through": "2026-11", "phone": "138****0000",
    "inflow_branch_code": BRANCH, "standing": "normal", "lost_contact_since": "2026-06-01", "status": "full",
    "gender": "male", "birth_date": "1988",
}  # fmt: skip
ORGS = {
    BRANCH: {"code": BRANCH, "name": "灵芝第一社区党支部", "level": "branch"},
    COUNTY: {"code": COUNTY, "name": "越城区委组织部", "level": "county"},
    "HB-LC-MD-01": {"code": "HB-LC-MD-01", "name": "谋道镇第一党支部", "level": "branch"},
}


class Api(BaseHTTPRequestHandler):
    """Answers what the pages read; records every call; `refuse` maps a path to (status, body)."""

    seen: list[tuple[str, str, Any]] = []
    refuse: dict[str, tuple[int, dict[str, Any]]] = {}

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        Api.seen.append((self.command, self.path, body))
        path = urlsplit(self.path).path
        status, answer = Api.refuse.get(f"{self.command} {path}") or self._found(path)
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _found(self, path: str) -> tuple[int, Any]:
        if self.command == "DELETE":
            return 204, None
        if self.command == "POST":
            return 201, {"id": "new", "name": "新站点"}
        if path.startswith("/api/v1/orgs/") and path.endswith("/staff"):
            return 200, {
                "items": [
                    {
                        "id": "s-1",
                        "org_code": BRANCH,
                        "subject": "wangfang",
                        "name": "王芳",
                        "role": "branch_secretary",
                    }
                ]
            }
        if path.startswith("/api/v1/orgs/"):
            code = path.rsplit("/", 1)[-1]
            return (200, ORGS[code]) if code in ORGS else (404, {"message": "not found"})
        if path == "/api/v1/orgs":
            return 200, {"items": [ORGS[BRANCH]], "next_cursor": None}
        if path == f"/api/v1/members/{MEMBER['id']}":
            return 200, MEMBER
        if path == "/api/v1/members":
            return 200, {"items": [MEMBER], "next_cursor": None, "total": 1}
        if path == "/api/v1/audit":
            return 200, {"items": [
                {"id": "a1", "at": "2026-12-01T02:00:00Z", "actor": "wangfang", "actor_role": "branch_secretary",
                 "action": "decide_standing", "object_type": "member", "object_id": MEMBER["id"], "org_code": BRANCH},
                {"id": "a2", "at": "2026-12-01T03:00:00Z", "actor": "svc", "actor_role": "service",
                 "action": "something_new", "object_type": "gadget", "object_id": "g", "org_code": None},
            ], "next_cursor": "c2"}  # fmt: skip
        if path == "/api/v1/stations":
            return 200, {"items": [{"code": "YC-ST-1", "name": "灵芝驿站", "kind": "station", "host_org_code": BRANCH,
                                    "address": "灵芝路 1 号", "open_hours": "9:00-17:00"}], "next_cursor": None}  # fmt: skip
        return 200, {"items": [], "next_cursor": None}

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Api.seen.clear()
    Api.refuse = {}
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def signed_in(api_url: str, role: str, org: str) -> Any:
    settings = Settings(
        service="console",
        service_urls={name: api_url for name in ("registration", "transfer", "tasks", "notify")},
    )
    client = create_app(settings).test_client()
    answer = client.post(
        "/signin",
        data={"role": role, "org": org, "sub": f"{role}-1", "name": "王书记"},
        headers=csrf_header(client),
    )
    assert answer.status_code == 302
    Api.seen.clear()
    return client


def asked(method: str, path: str) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(url).query) for m, url, _ in Api.seen if m == method and urlsplit(url).path == path
    ]


def test_the_inflow_roster_lists_members_arrived_at_the_branch_linked_to_their_page(api_url):
    client = signed_in(api_url, "branch_secretary", BRANCH)
    page = client.get("/inflow")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert asked("GET", "/api/v1/members") == [{"inflow_branch": [BRANCH], "limit": ["25"]}]
    assert f"/members/{MEMBER['id']}" in text and "谭明" in text
    assert "谋道镇第一党支部" in text and "灵芝第一社区党支部" in text  # home and inflow branch by name
    assert 'href="/inflow"' in text  # in the secretary's menu


def test_the_dashboard_not_reached_figure_opens_the_list_of_this_month(api_url):
    client = signed_in(api_url, "township_officer", BRANCH)
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert 'data-test="not-reached" href="/not-reached?org=' in dashboard
    page = client.get(f"/not-reached?org={BRANCH}&month=2026-11")
    assert page.status_code == 200 and "本月未联系（2026-11）" in page.get_data(as_text=True)
    assert asked("GET", "/api/v1/members") == [
        {"org": [BRANCH], "mobile": ["true"], "not_reached_in": ["2026-11"], "limit": ["25"]}
    ]


def test_a_refused_list_says_so_above_the_table_not_as_an_empty_one(api_url):
    client = signed_in(api_url, "branch_secretary", BRANCH)
    Api.refuse = {"GET /api/v1/members": (403, {"message": "out of scope"})}
    page = client.get("/inflow")
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and 'data-test="form-error"' in text and "暂无记录" not in text


def test_the_staff_directory_offers_the_role_of_the_org_level_and_confirms_removal(api_url):
    client = signed_in(api_url, "org_department", COUNTY)
    text = client.get(f"/staff?org={BRANCH}").get_data(as_text=True)
    assert "王芳" in text and "支部书记" in text and "灵芝第一社区党支部" in text
    assert '<option value="branch_secretary"' in text and '<option value="org_department"' not in text
    assert "确定将王芳从灵芝第一社区党支部的工作人员中移除？" in text
    added = client.post(
        "/staff", data={"org": BRANCH, "name": "李强", "subject": "liqiang", "role": "branch_secretary"},
        headers=csrf_header(client),
    )  # fmt: skip
    assert added.status_code == 302
    posts = [(url, body) for m, url, body in Api.seen if m == "POST"]
    assert posts == [
        (f"/api/v1/orgs/{BRANCH}/staff", {"name": "李强", "subject": "liqiang", "role": "branch_secretary"})
    ]
    removed = client.post("/staff/s%231/remove", data={"org": BRANCH}, headers=csrf_header(client))
    assert removed.status_code == 302
    assert [url for m, url, _ in Api.seen if m == "DELETE"] == [f"/api/v1/orgs/{BRANCH}/staff/s%231"]


def test_a_refused_staff_role_is_said_in_chinese_next_to_the_list(api_url):
    client = signed_in(api_url, "org_department", COUNTY)
    Api.refuse = {
        f"POST /api/v1/orgs/{BRANCH}/staff": (
            409,
            {"message": "the same person and role twice", "errors": {}},
        )
    }
    page = client.post(
        "/staff", data={"org": BRANCH, "name": "王芳", "subject": "wangfang", "role": "branch_secretary"},
        headers=csrf_header(client),
    )  # fmt: skip
    text = page.get_data(as_text=True)
    assert page.status_code == 409 and 'data-test="form-error"' in text and "王芳" in text


def test_only_departments_reach_the_admin_pages(api_url):
    client = signed_in(api_url, "branch_secretary", BRANCH)
    for path in ("/staff", "/audit", "/stations"):
        assert client.get(path).status_code == 403
    menu = client.get("/inflow").get_data(as_text=True)
    assert 'href="/staff"' not in menu and 'href="/audit"' not in menu


def test_the_audit_reader_filters_by_action_actor_and_whole_days_and_names_things(api_url):
    client = signed_in(api_url, "org_department", COUNTY)
    page = client.get("/audit?source=transfer&action=approve&actor=x1&since=2026-12-01&until=2026-12-05")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert asked("GET", "/api/v1/audit") == [
        {
            "org": [COUNTY],
            "action": ["approve"],
            "actor": ["x1"],
            "since": ["2026-12-01T00:00:00+08:00"],
            "until": ["2026-12-06T00:00:00+08:00"],
            "limit": ["25"],
        }
    ]  # fmt: skip (China days: the API takes instants with their offset)
    assert "党籍处置" in text and "支部书记 王芳" in text and "wangfang" not in text  # named by the directory
    assert "灵芝第一社区党支部" in text
    assert "其他操作" in text and "something_new" not in text  # an action it does not know: no English
    assert "svc" not in text  # a service is named by its role, not its identity
    assert f"/members/{MEMBER['id']}" in text and 'data-test="next-page"' in text


def test_stations_list_with_screen_and_poster_and_a_new_station_is_posted(api_url):
    client = signed_in(api_url, "township_officer", BRANCH)
    text = client.get("/stations").get_data(as_text=True)
    assert "灵芝驿站" in text and "驿站" in text and "灵芝第一社区党支部" in text
    assert "/stations/YC-ST-1/screen" in text and "/stations/YC-ST-1/poster.pdf" in text
    assert "更换密钥后，灵芝驿站已张贴的海报码和屏幕上的二维码都将失效" in text
    answer = client.post(
        "/stations",
        data={"code": "YC-ST-2", "name": "新站点", "kind": "home", "host_org_code": BRANCH, "region": "330602", "address": "灵芝路 2 号"},
        headers=csrf_header(client),
    )  # fmt: skip
    assert answer.status_code == 302
    assert [body for m, url, body in Api.seen if m == "POST"] == [
        {
            "code": "YC-ST-2",
            "name": "新站点",
            "kind": "home",
            "host_org_code": BRANCH,
            "region": "330602",
            "address": "灵芝路 2 号",
        }
    ]
    client.post("/stations/YC-ST-1/rotate-key", headers=csrf_header(client))
    assert ("POST", "/api/v1/stations/YC-ST-1/rotate-key") in [(m, url) for m, url, _ in Api.seen]


def test_the_standing_form_is_the_departments_and_offers_what_may_follow(api_url):
    secretary = signed_in(api_url, "branch_secretary", BRANCH)
    assert 'data-test="standing-form"' not in secretary.get(f"/members/{MEMBER['id']}").get_data(as_text=True)
    department = signed_in(api_url, "org_department", COUNTY)
    text = department.get(f"/members/{MEMBER['id']}").get_data(as_text=True)
    assert 'data-test="standing-form"' in text and "自 2026-06-01 起失联" in text
    assert '<option value="suspended"' in text and '<option value="removed"' in text
    assert '<option value="restored"' not in text  # only from suspended
    assert "确定对谭明作出此处置决定？" in text
    done = department.post(
        f"/members/{MEMBER['id']}/standing",
        data={"standing": "suspended", "reason": "失联超过六个月", "decided_on": "2026-12-01"},
        headers=csrf_header(department),
    )  # fmt: skip
    assert done.status_code == 302
    assert [body for m, url, body in Api.seen if m == "POST"] == [
        {"standing": "suspended", "reason": "失联超过六个月", "decided_on": "2026-12-01"}
    ]


def test_a_refused_standing_decision_comes_back_on_the_member_page(api_url):
    department = signed_in(api_url, "org_department", COUNTY)
    Api.refuse = {
        f"POST /api/v1/members/{MEMBER['id']}/standing": (
            422, {"message": "Unprocessable", "errors": {"json": {"decided_on": ["must not be in the future"]}}}
        )
    }  # fmt: skip
    page = department.post(
        f"/members/{MEMBER['id']}/standing",
        data={"standing": "suspended", "reason": "失联", "decided_on": "2099-01-01"},
        headers=csrf_header(department),
    )  # fmt: skip
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and 'data-field-error="decided_on"' in text and "谭明" in text
    assert "must not" not in text


TOWNSHIP = "ZJ-SX-YC-LZ"
COUNTY_FIGURES = {
    "GET /api/v1/stats/breakdown": (200, {
        "org": COUNTY, "month": "2026-12", "dues_month": "2026-12",
        "totals": {"members": 40, "mobile_members": 9, "reached": 5, "not_reached": 4, "lost_contact": 2, "dues_behind": 3},
        "items": [{"org_code": TOWNSHIP, "name": "灵芝街道", "level": "township", "members": 40, "mobile_members": 9,
                   "reached": 5, "not_reached": 4, "lost_contact": 2, "dues_behind": 3}],
    }),
    "GET /api/v1/stats/flows": (200, {
        "org": COUNTY,
        "outflows": [{"code": "440000", "name": "广东省", "count": 6}],
        "inflows": [{"code": "HB", "name": "湖北省", "count": 1}],
    }),
    "GET /api/v1/stats/transfers": (200, {
        "todo": 2, "overdue": 1, "in_this_year": 3, "out_this_year": 1, "pending": 0, "coming": 1,
        "overdue_by_stage": {"county": 1},
        "in_by_province": [{"code": "HB", "name": "湖北省", "count": 3}],
        "out_by_province": [{"code": "GD", "name": "广东省", "count": 1}],
    }),
    "GET /api/v1/stats/tasks": (200, {
        "org": COUNTY, "total": 4, "by_status": {"open": 2, "completed": 1}, "overdue": 1, "completion_rate": 0.3333,
        "average_rating": None,
        "by_org": [{"org_code": TOWNSHIP, "name": "灵芝街道", "total": 4, "done": 1, "offered": 3, "overdue": 1,
                    "completion_rate": 0.3333}],
    }),
}  # fmt: skip


def test_the_county_dashboard_links_each_figure_to_its_list_and_breaks_down_by_township(api_url):
    client = signed_in(api_url, "org_department", COUNTY)
    Api.refuse = dict(COUNTY_FIGURES)
    page = client.get("/dashboard")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (
        f'data-test="dues-behind" href="/roster?branch={COUNTY}&amp;dues_behind=true" data-figure="3"' in text
    )
    assert (
        f'data-test="lost-contact" href="/roster?branch={COUNTY}&amp;mobile=true&amp;lost_contact=true"'
        in text
    )
    assert (
        f'data-test="todo" href="/inbox?box=todo&amp;scope=subtree&amp;org={COUNTY}" data-figure="2"' in text
    )
    assert (
        f'data-test="overdue-county" href="/inbox?box=todo&amp;scope=subtree&amp;org={COUNTY}&amp;status=pending_county"'
        in text
    )
    assert 'data-test="completion" href="/stats?org=' in text and "33%" in text
    # The township's row opens its own dashboard; its figures open its own lists.
    assert f'<a href="/dashboard?org={TOWNSHIP}" data-test="child-link">灵芝街道</a>' in text
    assert f'href="/roster?branch={TOWNSHIP}&amp;dues_behind=true" data-test="child-dues"' in text
    # The Sankey has the table of its figures beside it, and says what it shows.
    assert 'role="img" aria-label="桑基图：今年从各省转入越城区委组织部' in text
    chart = json.loads(
        html.unescape(re.search(r'data-test="flow-chart"[^>]*data-chart=\'([^\']*)\'', text).group(1))
    )
    assert chart["kind"] == "sankey" and chart["links"] == [
        {"source": "湖北省转入", "target": "越城区委组织部", "value": 3},
        {"source": "越城区委组织部", "target": "转出至广东省", "value": 1},
    ]
    assert '<th scope="row" data-label="省份">湖北省</th><td class="num" data-label="转入">3</td>' in text
    # Each once (they are asked at once, so in no fixed order).
    assert sorted(path for method, path, _ in Api.seen if "/stats/" in path and method == "GET") == sorted(
        [
            f"/api/v1/stats/breakdown?org={COUNTY}&month={this_month()}",
            f"/api/v1/stats/flows?org={COUNTY}",
            f"/api/v1/stats/transfers?org={COUNTY}",
            f"/api/v1/stats/tasks?org={COUNTY}",
        ]
    )
    assert not any("/ledger" in path for _, path, _ in Api.seen)  # never the audited export


def test_one_stats_service_down_leaves_the_other_figures_on_the_dashboard(api_url):
    client = signed_in(api_url, "org_department", COUNTY)
    Api.refuse = {**COUNTY_FIGURES, "GET /api/v1/stats/transfers": (503, {"message": "down"})}
    text = client.get("/dashboard").get_data(as_text=True)
    assert 'data-test="dashboard-problems"' in text
    assert (
        'data-test="todo" href="/inbox?box=todo&amp;scope=subtree&amp;org=' in text
        and 'data-figure="–"' in text
    )
    assert 'data-test="dues-behind"' in text and 'data-figure="3"' in text


def test_the_inbox_opened_from_a_dashboard_reads_the_same_subtree(api_url):
    client = signed_in(api_url, "org_department", COUNTY)
    page = client.get(f"/inbox?box=todo&scope=subtree&org={TOWNSHIP}&status=pending_township")
    assert page.status_code == 200 and "（含下级）" in page.get_data(as_text=True)
    assert asked("GET", "/api/v1/transfers") == [
        {
            "box": ["todo"],
            "status": ["pending_township"],
            "scope": ["subtree"],
            "org": [TOWNSHIP],
            "limit": ["20"],
        }
    ]
