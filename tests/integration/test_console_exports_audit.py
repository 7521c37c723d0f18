"""The console's list exports and its merged audit reader against the four real APIs (each app on
a local port over the test database: SQLite by default, PostgreSQL with TEST_DATABASE_URL).

Exports: Chinese headers with names beside codes, a UTF-8 BOM, a formula cell neutralised, the
page's filters and sort honoured over every page, the caller's scope honoured (the API refuses,
the console passes the refusal on as a page, not a file), the ledger route for mobile members, no
audit entry for opening a page. The audit reader: the four services' logs merged newest first,
paged without loss or repeat, filtered by service, action, actor and China dates, in Chinese."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from sqlalchemy import select

from services.console import exports
from services.console.app import create_app as create_console
from shared import audit
from shared.settings import Settings
from tests.browser.support import make_org
from tests.support.builders import member_body
from tests.support.console_http import csrf_header
from tests.support.served import served
from tests.support.tokens import ADMIN

SERVICES = ("registration", "transfer", "tasks", "notify")


@pytest.fixture(scope="module")
def apis(settings_for: Callable[..., Settings], migrated: Callable[[str], Any]) -> Iterator[dict[str, str]]:
    from deploy.processes import service_module

    with ExitStack() as stack:
        urls: dict[str, str] = {}
        for service in SERVICES:
            migrated(service)
            app = service_module(service, "app").create_app(settings_for(service, service_urls=urls))
            urls[service] = stack.enter_context(served(app))
        yield urls


def console_as(urls: dict[str, str], role: str, org: str, sub: str = "reader-1", name: str = "读者") -> Any:
    client = create_console(Settings(service="console", service_urls=dict(urls))).test_client()
    signed = client.post("/signin", data={"role": role, "org": org, "sub": sub, "name": name}, headers=csrf_header(client))
    assert signed.status_code == 302
    return client


@pytest.fixture(scope="module")
def tree(apis: dict[str, str]) -> dict[str, str]:
    registration = apis["registration"]
    codes = {"province": make_org(registration, "province", "CN", "湖北省测试")}
    codes["county"] = make_org(registration, "county", codes["province"], "利川市测试")
    codes["township"] = make_org(registration, "township", codes["county"], "都亭街道测试")
    codes["branch"] = make_org(registration, "branch", codes["township"], "第一社区党支部")
    codes["other"] = make_org(registration, "branch", codes["township"], "第二社区党支部")
    return codes


def read_csv(response: Any) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode()), "no UTF-8 BOM"
    return list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))


def add_member(registration: str, branch: str, name: str, **overrides: object) -> str:
    response = requests.post(
        f"{registration}/api/v1/members", json=member_body(branch, name=name, **overrides), headers=ADMIN, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


# --- exports ------------------------------------------------------------------------------------


def test_the_roster_export_is_every_page_in_chinese_with_names_beside_codes_and_no_formula(apis, tree, monkeypatch):
    registration = apis["registration"]
    names = ["=1+1", "+SUM(A1)", "@A1", "-2", *[f"成员{n:02d}" for n in range(8)]]
    for name in names:
        add_member(registration, tree["branch"], name)
    add_member(registration, tree["other"], "别的支部")
    monkeypatch.setattr(exports, "API_PAGE", 5)  # more rows than a page: every page is read
    client = console_as(apis, "branch_secretary", tree["branch"])

    response = client.get(f"/export/roster.csv?branch={tree['branch']}&sort=name&dir=asc")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert rows[0][0].startswith("党员名册（第一社区党支部，导出于 ")
    assert rows[1] == [
        "姓名", "所在支部代码", "所在支部", "电话", "身份证号", "流动党员", "党费缴至", "最近报到", "失联",
    ]  # fmt: skip
    body = rows[2:]
    assert len(body) == len(names)
    shown = [row[0] for row in body]
    assert shown == sorted(shown)  # the sort asked for, over all pages
    assert {"'=1+1", "'+SUM(A1)", "'@A1", "'-2"} <= set(shown)  # formulas neutralised
    assert all(row[1] == tree["branch"] and row[2] == "第一社区党支部" for row in body)
    assert all("*" in row[3] and "*" in row[4] for row in body)  # masked as the API masks them
    assert {row[5] for row in body} <= {"是", "否"}

    descending = read_csv(client.get(f"/export/roster.csv?branch={tree['branch']}&sort=name&dir=desc"))[2:]
    assert [row[0] for row in descending] == sorted(shown, reverse=True)


def test_the_roster_export_honours_the_search_and_the_scope(apis, tree):
    registration = apis["registration"]
    add_member(registration, tree["branch"], "查找甲")
    add_member(registration, tree["branch"], "查找乙")
    secretary = console_as(apis, "branch_secretary", tree["branch"])
    found = read_csv(secretary.get(f"/export/roster.csv?branch={tree['branch']}&q=查找"))[2:]
    assert sorted(row[0] for row in found) == ["查找乙", "查找甲"] or sorted(row[0] for row in found) == ["查找甲", "查找乙"]

    # Another branch is not the secretary's: the API's 403 is a page, never a file.
    refused = secretary.get(f"/export/roster.csv?branch={tree['other']}")
    assert refused.status_code == 403 and refused.headers["Content-Type"].startswith("text/html")
    assert "\ufeff" not in refused.get_data(as_text=True)

    # Above the branches, the township officer's export names each member's branch.
    officer = console_as(apis, "township_officer", tree["township"])
    rows = read_csv(officer.get(f"/export/roster.csv?branch={tree['township']}"))[2:]
    assert {row[2] for row in rows} == {"第一社区党支部", "第二社区党支部"}


def test_mobile_members_only_is_the_ledger_export_in_csv_and_xlsx(apis, tree, migrated):
    registration = apis["registration"]
    add_member(registration, tree["branch"], "流动甲")
    secretary = console_as(apis, "branch_secretary", tree["branch"], sub="ledger-secretary")
    page = secretary.get(f"/roster?branch={tree['branch']}&mobile=true").get_data(as_text=True)
    assert "导出电子表格" in page and "最多 5000 行" in page
    from services.registration.models import audit_log

    database = migrated("registration")

    def ledger_exports() -> int:
        with database.reader() as session:
            found = session.execute(
                select(audit_log.c.id).where(
                    audit_log.c.action == "export_ledger", audit_log.c.actor == "ledger-secretary"
                )
            )
            return len(found.all())

    assert ledger_exports() == 0  # opening the page exported nothing
    response = secretary.get(f"/export/roster.xlsx?branch={tree['branch']}&mobile=true")
    assert response.status_code == 200 and response.get_data()[:2] == b"PK"
    assert ledger_exports() == 1  # the API audits the export, once
    as_csv = secretary.get(f"/export/roster.csv?branch={tree['branch']}&mobile=true")
    assert as_csv.get_data().startswith("\ufeff".encode())
    assert "流动党员台账" in as_csv.get_data(as_text=True).splitlines()[0]
    # No xlsx where the ledger is not the list shown (the whole roster).
    assert secretary.get(f"/export/roster.xlsx?branch={tree['branch']}").status_code == 404


def test_the_inflow_and_not_reached_exports_read_their_lists(apis, tree):
    registration = apis["registration"]
    member = add_member(registration, tree["other"], "未联系者")
    requests.post(
        f"{registration}/api/v1/members/{member}/outflows",
        json={"destination_region": "330602", "departed_on": "2026-09-01", "occupation": "工人", "employer": "=HYPERLINK(1)",
              "destination_address": "浙江", "reason": "务工", "contact_phone": "13900000000"},
        headers=ADMIN, timeout=10,
    )  # fmt: skip
    officer = console_as(apis, "township_officer", tree["township"])
    response = officer.get(f"/export/not_reached.csv?org={tree['township']}")
    assert response.status_code == 200
    rows = read_csv(response)
    assert rows[1] == ["姓名", "所属支部代码", "所属支部", "电话", "最近报到", "失联"]
    assert "未联系者" in [row[0] for row in rows[2:]]
    inflow = read_csv(officer.get(f"/export/inflow.csv?org={tree['township']}"))
    assert inflow[1][:5] == ["姓名", "所属支部代码", "所属支部", "流入支部代码", "流入支部"]


def test_the_staff_directory_export_is_the_departments_and_names_roles_in_chinese(apis, tree):
    registration = apis["registration"]
    response = requests.post(
        f"{registration}/api/v1/orgs/{tree['branch']}/staff",
        json={"subject": f"s-{uuid.uuid4().hex[:8]}", "name": "=王书记", "role": "branch_secretary"},
        headers=ADMIN, timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    department = console_as(apis, "org_department", tree["county"])
    rows = read_csv(department.get(f"/export/staff.csv?org={tree['branch']}"))
    assert rows[1][:3] == ["姓名", "职务", "登录账号"]
    assert rows[2][:2] == ["'=王书记", "支部书记"]
    secretary = console_as(apis, "branch_secretary", tree["branch"])
    assert secretary.get(f"/export/staff.csv?org={tree['branch']}").status_code == 403


def test_an_unknown_table_or_format_is_not_found(apis, tree):
    client = console_as(apis, "org_department", tree["county"])
    assert client.get("/export/members.csv").status_code == 404
    assert client.get("/export/audit.xlsx").status_code == 404


# --- the merged audit reader ------------------------------------------------------------------


@pytest.fixture(scope="module")
def audit_trail(apis, tree, migrated) -> list[tuple[str, str, str]]:
    """Entries written into each service's own audit log in turn (a moment apart, so ids and times
    agree) about a branch under READER_ORG (an org of the audit paths only, so that nothing else the
    module writes is in its subtree), and each with a twin about another province:
    (service, action, actor)."""
    from deploy.processes import service_module

    written: list[tuple[str, str, str]] = []
    plan = [
        ("registration", "create"), ("transfer", "apply"), ("tasks", "publish"), ("notify", "remind"),
        ("transfer", "approve"), ("registration", "export_ledger"), ("tasks", "claim"), ("transfer", "urge"),
        ("registration", "read_full"), ("tasks", "cancel"), ("notify", "remind"), ("transfer", "reject"),
    ]  # fmt: skip
    scope = audit.OrgScope(tree["branch"], f"/CN/{READER_ORG}/{tree['branch']}/")
    elsewhere = audit.OrgScope("ELSEWHERE-1", "/CN/ELSEWHERE/ELSEWHERE-1/")
    for number, (service, action) in enumerate(plan):
        database = migrated(service)
        table = service_module(service, "models").audit_log
        actor = f"actor-{number % 3}"
        with database.transaction() as session:
            audit.write(session, table, actor, "org_department", action, "member", f"M{number}", None, "secret detail", scope)
            audit.write(session, table, "x", "admin", action, "org", "ELSEWHERE-1", None, None, elsewhere)
        written.append((service, action, actor))
        time.sleep(0.005)
    return written


# The catalogue's Chinese names (an action the console does not know, as notify's `remind`, is 其他操作).
SOURCE_NAMES = {"registration": "党员登记", "transfer": "组织关系转接", "tasks": "志愿任务", "notify": "消息通知"}
ACTION_NAMES = {
    "create": "新建", "apply": "申请转接", "publish": "发布任务", "approve": "审批同意", "export_ledger": "导出台账",
    "claim": "认领任务", "urge": "催办", "read_full": "查看完整信息", "cancel": "取消", "reject": "审批不同意",
    "remind": "其他操作",
}  # fmt: skip
READER_ORG = f"AUDIT-{uuid.uuid4().hex[:8].upper()}"


def audit_rows(html: str) -> list[tuple[str, str]]:
    """(业务系统, 操作) of each row of the audit table, top to bottom."""
    import re

    body = html.split('data-test="audit"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]:
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if len(cells) >= 3:
            rows.append((cells[1], cells[2]))
    return rows


def test_the_reader_merges_the_four_logs_newest_first_across_pages(apis, tree, audit_trail):
    client = console_as(apis, "org_department", READER_ORG)
    seen: list[tuple[str, str]] = []
    url = "/audit"
    pages = 0
    with pytest.MonkeyPatch.context() as patch:
        from services.console import views_admin

        patch.setattr(views_admin, "LIST_PAGE", 5)
        while url:
            response = client.get(url)
            assert response.status_code == 200
            html = response.get_data(as_text=True)
            seen += audit_rows(html)
            pages += 1
            next_link = [part for part in html.split('href="') if 'data-test="next-page"' in part.split(">", 1)[0]]
            url = next_link[0].split('"', 1)[0].replace("&amp;", "&") if next_link else ""
    assert pages == 3
    expected = [(SOURCE_NAMES[service], ACTION_NAMES[action]) for service, action, _ in reversed(audit_trail)]
    assert seen == expected
    html = client.get("/audit").get_data(as_text=True)
    assert "secret detail" not in html and "ELSEWHERE" not in html  # no detail; nothing outside the scope


def test_the_reader_filters_by_service_action_actor_and_china_dates(apis, tree, audit_trail):
    client = console_as(apis, "org_department", READER_ORG)
    only_transfer = audit_rows(client.get("/audit?source=transfer").get_data(as_text=True))
    assert [action for _, action in only_transfer] == ["审批不同意", "催办", "审批同意", "申请转接"]
    assert {source for source, _ in only_transfer} == {"组织关系转接"}
    cancelled = audit_rows(client.get("/audit?action=cancel").get_data(as_text=True))
    assert cancelled == [("志愿任务", "取消")]
    by_actor = audit_rows(client.get("/audit?actor=actor-0").get_data(as_text=True))
    assert len(by_actor) == len([1 for _, _, actor in audit_trail if actor == "actor-0"])
    from datetime import datetime, timedelta, timezone

    today = datetime.now(timezone(timedelta(hours=8))).date()
    assert len(audit_rows(client.get(f"/audit?since={today}&until={today}").get_data(as_text=True))) == 12
    assert audit_rows(client.get(f"/audit?until={today - timedelta(days=1)}").get_data(as_text=True)) == []
    bad = client.get("/audit?since=not-a-date").get_data(as_text=True)
    assert 'data-field-error="since"' in bad


def test_the_audit_export_is_the_merged_log_in_chinese(apis, tree, audit_trail):
    client = console_as(apis, "org_department", READER_ORG)
    rows = read_csv(client.get("/export/audit.csv"))
    assert rows[1] == ["时间", "业务系统", "操作", "操作人角色", "操作人", "对象", "对象编号", "所属组织代码", "所属组织"]
    assert len(rows[2:]) == len(audit_trail)
    assert rows[2][1] == "组织关系转接" and rows[2][7] == tree["branch"] and rows[2][8] == "第一社区党支部"
    assert "secret detail" not in "".join(",".join(row) for row in rows)


def test_opening_list_pages_writes_no_export_audit(apis, tree, migrated):
    from services.registration.models import audit_log

    client = console_as(apis, "org_department", tree["county"], sub="page-opener")
    for path in (f"/roster?branch={tree['county']}", f"/inflow?org={tree['county']}", "/audit", "/staff", "/stations"):
        assert client.get(path).status_code == 200, path
    with migrated("registration").reader() as session:
        actions = {row.action for row in session.execute(select(audit_log.c.action).where(audit_log.c.actor == "page-opener"))}
    assert "export_ledger" not in actions
