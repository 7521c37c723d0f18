"""The console as each desk uses it, in Chromium against the real stack, at 1366×900 and 390×844.

For every role: each page its menu offers (and the transfer and task pages) opens with 200, shows
no English word on a zh-CN page (codes, names and a short allowlist aside), has no serious or
critical axe-core violation, and is saved as a screenshot under test-artifacts/console/desks/.
Then each role's main story: a member registers an outflow with the province → city → county
picker and applies for a transfer choosing the branch by name; the secretary finds members by
name and records a grid visit picking the member; the township officer publishes a task; the
county's department reads its dashboard. Actions appear only where the API lists them in
`allowed_actions`.
"""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.browser.fixtures import ARTIFACTS, PHONE, Screen, browser  # noqa: F401 (fixture)
from tests.browser.support import make_member, make_org
from tests.support.builders import id_number, member_body
from tests.support.tokens import ADMIN, bearer

pytestmark = pytest.mark.timeout(900)

DESK = {"width": 1366, "height": 900}
VIEWPORTS = {"desk": DESK, "phone": PHONE}
SHOTS = ARTIFACTS / "desks"
# Words a Chinese page may show: the language switch, and names of formats and protocols.
ALLOWED_WORDS = {"English", "Webhook", "PDF", "Excel", "csv", "xlsx"}
TOKEN = re.compile(r"[A-Za-z0-9_.@:/+-]+")


def english_words(text: str) -> list[str]:
    """ASCII words of three or more letters that are not codes (codes carry digits or hyphens)."""
    found = []
    for token in TOKEN.findall(text):
        if any(ch.isdigit() or ch in "-_.@:/+" for ch in token):
            continue
        if len(token) >= 3 and token not in ALLOWED_WORDS:
            found.append(token)
    return found


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:3]}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


class Desk:
    """One person at one screen size; collects what is wrong on each page instead of stopping."""

    def __init__(self, chromium: Any, base_url: str, role: str, viewport: str) -> None:
        self.screen = Screen(chromium, base_url, VIEWPORTS[viewport])
        self.page = self.screen.page
        self.page.on("dialog", lambda dialog: dialog.accept())
        self.name = f"{role}-{viewport}"
        self.problems: list[str] = []
        self.shots: list[str] = []

    def check(self, label: str) -> None:
        # A notice's text is written by notify (its wording is notify's contract, not the
        # console's); everything else on the page is the console's own.
        text = self.page.evaluate(
            """() => { const copy = document.body.cloneNode(true);
                       copy.querySelectorAll('[data-text-from]').forEach(n => n.remove());
                       document.documentElement.appendChild(copy); const text = copy.innerText;
                       copy.remove(); return text; }"""
        )
        words = english_words(text)
        if words:
            self.problems.append(f"{label}: English words {sorted(set(words))}")
        violations = serious_violations(self.page)
        if violations:
            self.problems.append(f"{label}: axe {violations}")
        if self.page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
            self.problems.append(f"{label}: wider than the screen")
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(str(path))

    def visit(self, path: str, label: str) -> None:
        response = self.page.goto(path)
        if response is None or response.status != 200:
            self.problems.append(f"{label}: {path} answered {response.status if response else None}")
        self.page.wait_for_load_state("networkidle")
        self.check(label)

    def menu(self) -> list[str]:
        return self.page.eval_on_selector_all("nav.main a", "links => links.map(a => a.getAttribute('href'))")

    def done(self) -> None:
        self.screen.assert_no_js_errors()
        self.screen.close()
        assert self.problems == [], "\n".join(self.problems)


def sign_in_member(desk: Desk, member_id: str) -> None:
    desk.page.goto("/signin")
    desk.page.fill("input[name=member_id]", member_id)
    desk.page.click("[data-test=member-signin]")
    desk.page.wait_for_url(re.compile(r"/me$"))


def sign_in_staff(desk: Desk, role: str, org: str, name: str) -> None:
    desk.page.goto("/signin")
    desk.page.select_option("select[name=role]", role)
    desk.page.fill("input[name=org]", org)
    desk.page.fill("input[name=sub]", f"{role}-{org}")
    desk.page.fill("input[name=name]", name)
    desk.page.click("[data-test=custom-signin]")
    desk.page.wait_for_load_state("networkidle")


def pick(desk: Desk, select_name: str, typed: str, option_text: str) -> None:
    """Choose in a Tom Select type-ahead as a person does: type, wait, click the option."""
    wrapper = desk.page.locator(f"select[name={select_name}] + .ts-wrapper")
    wrapper.locator(".ts-control").click()
    desk.page.keyboard.type(typed)
    desk.page.locator(".ts-dropdown .option", has_text=option_text).first.click()


@pytest.fixture(scope="module")
def stack(full_stack) -> Any:
    full_stack.wait_ready("console", timeout=60)
    return full_stack


@pytest.fixture(scope="module")
def place(stack) -> dict[str, str]:
    """A county with one township and two branches, all named in Chinese, a member and a task."""
    registration = stack.url("registration")
    province = make_org(registration, "province", "CN", "浙江省（测试）")
    county = make_org(registration, "county", province, "越城区（测试）")
    township = make_org(registration, "township", county, "灵芝街道（测试）")
    branch = make_org(registration, "branch", township, "灵芝第一社区党支部")
    other = make_org(registration, "branch", township, "灵芝第二社区党支部")
    # Two months of dues behind: the sending branch's approval is refused until they are paid.
    today = date.today()
    behind = date(today.year - (today.month <= 2), (today.month - 3) % 12 + 1, 1).strftime("%Y-%m")
    answer = requests.post(
        f"{registration}/api/v1/members",
        json=member_body(branch, name="张晓明", dues_paid_through=behind),
        headers=ADMIN,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    member = answer.json()["id"]
    make_member(registration, branch, "李红")
    # Away in Guangdong from the second branch: the breakdown and the flows have one to count.
    travelling = make_member(registration, other, "钱进")
    outflow = requests.post(
        f"{registration}/api/v1/members/{travelling}/outflows",
        json={"destination_region": "440305", "destination_address": "广东省深圳市南山区", "occupation": "快递员",
              "departed_on": (today - timedelta(days=20)).isoformat(), "reason": "外出务工",
              "contact_phone": "13800004444"},
        headers=ADMIN,
        timeout=10,
    )  # fmt: skip
    assert outflow.status_code == 201, outflow.text
    # The county's department decides this member's standing (the lost-contact course).
    course = make_member(registration, branch, "孙立")
    officer = bearer("township_officer", township, f"township_officer-{township}", "周干事")
    task = requests.post(
        f"{stack.url('tasks')}/api/v1/tasks",
        json={
            "title": "清理村口河道",
            "description": "周六上午清理村口河道",
            "org_code": township,
            "category": "环境整治",
            "capacity": 2,
            "due_on": (date.today() + timedelta(days=14)).isoformat(),
            "points": 10,
        },
        headers=officer,
        timeout=10,
    )
    assert task.status_code == 201, task.text
    published = requests.post(
        f"{stack.url('tasks')}/api/v1/tasks/{task.json()['id']}/publish", headers=officer, timeout=10
    )
    assert published.status_code == 200, published.text
    station = requests.post(
        f"{registration}/api/v1/stations",
        json={"code": f"ST-{township}", "name": "灵芝驿站", "kind": "station", "host_org_code": township,
              "region": "330602", "address": "灵芝路 1 号", "open_hours": "9:00-17:00"},
        headers=officer,
        timeout=10,
    )  # fmt: skip
    assert station.status_code == 201, station.text
    # One transfer completed out to another province and one in from it this year: the county's
    # Sankey has a flow each way.
    far_province = make_org(registration, "province", "CN", "广东省（测试）")
    far_branch = make_org(registration, "branch", make_org(registration, "township", make_org(
        registration, "county", far_province, "南山区（测试）"), "粤海街道（测试）"), "粤海第一社区党支部")  # fmt: skip
    complete_transfer(stack, make_member(registration, branch, "吴刚"), branch, far_branch)
    complete_transfer(stack, make_member(registration, far_branch, "郑洁"), far_branch, other)
    return {
        "province": province, "county": county, "township": township, "branch": branch,
        "other": other, "member": member, "task": task.json()["id"], "course": course,
        "station": station.json()["code"],
    }  # fmt: skip


def complete_transfer(stack: Any, member: str, from_branch: str, to_branch: str) -> None:
    """Apply as the member, approve at each stage as its holder, and report in."""
    from services.transfer.domain import STAGE_ROLE

    transfer = stack.url("transfer")
    applied = requests.post(
        f"{transfer}/api/v1/transfers",
        json={"member_id": member, "to_branch_code": to_branch, "reason": "工作调动"},
        headers=bearer("member", from_branch, member),
        timeout=30,
    )
    assert applied.status_code == 201, applied.text
    url = f"{transfer}/api/v1/transfers/{applied.json()['id']}"
    for _ in range(10):
        view = requests.get(url, headers=ADMIN, timeout=10).json()
        if view["status"] == "letter_issued":
            break
        stage = view["current_stage"]
        holder = bearer(STAGE_ROLE[stage["name"]], stage["org_code"])
        decided = requests.post(f"{url}/decisions", json={"decision": "approve"}, headers=holder, timeout=30)
        assert decided.status_code == 200, decided.text
    reported = requests.post(f"{url}/report", json={}, headers=bearer("member", from_branch, member), timeout=30)
    assert reported.status_code == 200, reported.text


STORIES: dict[str, Any] = {}


def follow_figure(desk: Desk, figure: str) -> int:
    """Open a dashboard figure's link: the list it leads to holds as many rows as it said."""
    link = desk.page.locator(f"[data-test={figure}]").first
    said = link.get_attribute("data-figure") or link.inner_text()
    link.click()
    desk.page.wait_for_load_state("networkidle")
    listed = desk.page.locator("tbody tr[data-member]").count()
    assert str(listed) == said.strip(), f"{figure}: the dashboard said {said}, the list {desk.page.url} holds {listed}"
    return listed


@pytest.mark.parametrize("viewport", ["phone", "desk"])
def test_a_member_registers_an_outflow_and_applies_by_choosing_not_typing(browser, stack, place, viewport):  # noqa: F811
    desk = Desk(browser, stack.url("console"), "member", viewport)
    desk.visit("/signin", "signin")
    desk.visit("/signin/sms", "signin-sms")
    sign_in_member(desk, place["member"])
    for path in desk.menu():
        desk.visit(path, path.strip("/").replace("/", "_") or "home")
    desk.visit(f"/tasks/{place['task']}", "task")
    if viewport == "phone":
        desk.visit("/me/outflow", "outflow")
        page = desk.page
        page.select_option("fieldset.region-picker select[data-level='0']", "330000")
        page.select_option("fieldset.region-picker select[data-level='1']", "330600")
        page.select_option("fieldset.region-picker select[data-level='2']", "330602")
        assert page.input_value("input[name=destination_region]") == "330602"
        page.fill("input[name=destination_address]", "浙江省绍兴市越城区灵芝街道")
        page.fill("input[name=occupation]", "纺织工")
        page.fill("input[name=departed_on]", date.today().isoformat())
        page.fill("input[name=reason]", "外出务工")
        page.fill("input[name=contact_phone]", "1380000")  # too short: said in Chinese next to it
        page.click("form.card button[type=submit]")
        assert page.inner_text("[data-field-error=contact_phone]") == "请输入 11 位手机号"
        assert page.input_value("input[name=destination_region]") == "330602"  # the choice is kept
        desk.check("outflow-error")
        page.fill("input[name=contact_phone]", "13800003333")
        page.click("form.card button[type=submit]")
        page.wait_for_url(re.compile(r"/me$"))
        assert "外出登记成功" in page.inner_text("main")
        desk.check("outflow-done")
    else:
        desk.visit("/transfers/new", "apply")
        pick(desk, "to_branch_code", "第二", "灵芝第二社区党支部")
        desk.page.fill("textarea[name=reason]", "到第二社区居住")
        desk.page.click("[data-test=apply]")
        desk.page.wait_for_url(re.compile(r"/transfers/[^/]+$"))
        assert "灵芝第二社区党支部" in desk.page.inner_text("main")
        STORIES["transfer"] = desk.page.url.rsplit("/", 1)[-1]
        desk.check("transfer")
    desk.done()


@pytest.mark.parametrize("viewport", ["desk", "phone"])
def test_a_secretary_finds_members_by_name_and_acts_only_where_allowed(browser, stack, place, viewport):  # noqa: F811
    desk = Desk(browser, stack.url("console"), "secretary", viewport)
    sign_in_staff(desk, "branch_secretary", place["branch"], "王书记")
    menu = desk.menu()
    for wanted in ("/roster", "/inflow", "/ledger", "/dashboard", "/stats", "/ranking", "/preferences"):
        assert wanted in menu, f"{wanted} missing from the secretary's menu {menu}"
    assert "/staff" not in menu and "/audit" not in menu
    for path in menu:
        desk.visit(path, path.strip("/").replace("/", "_"))
    # 本月未联系: the dashboard's figure opens the list of this month.
    desk.visit("/dashboard", "dashboard")
    desk.page.click("[data-test=not-reached]")
    desk.page.wait_for_url(re.compile(r"/not-reached\?"))
    desk.page.wait_for_load_state("networkidle")
    assert "本月未联系" in desk.page.inner_text("h1")
    desk.check("not-reached")
    # Every figure of the branch opens the list of exactly those members.
    counted = {}
    for figure in ("members", "mobile", "not-reached", "lost-contact", "dues-behind", "inflow"):
        desk.page.goto("/dashboard")
        counted[figure] = follow_figure(desk, figure)
    assert counted["members"] >= 3 and counted["dues-behind"] >= 1  # 张晓明 is two months behind
    desk.page.goto("/dashboard")
    assert desk.page.locator("[data-test=breakdown]").count() == 0  # a branch has no children
    if "transfer" in STORIES:
        response = desk.page.goto(f"/transfers/{STORIES['transfer']}")
        assert response is not None and response.status == 200
        transfer = requests.get(
            f"{stack.url('transfer')}/api/v1/transfers/{STORIES['transfer']}",
            headers=bearer("branch_secretary", place["branch"], f"branch_secretary-{place['branch']}"),
            timeout=10,
        ).json()
        shown = desk.page.locator("[data-test=approve], [data-test=reject], [data-test=return]").count()
        if "allowed_actions" not in transfer:
            assert shown == 0  # no allowed_actions from the API: no buttons
        desk.check("transfer")
        if viewport == "desk" and "allowed_actions" in transfer:
            page = desk.page
            # The member's dues are two months behind: no approve button, and the page says why.
            assert "approve" not in transfer["allowed_actions"] and "return" in transfer["allowed_actions"]
            assert page.locator("[data-test=approve]").count() == 0
            assert "欠缴党费 2 个月" in page.inner_text("[data-test=dues-blocked]")
            page.fill("[data-test=refuse] textarea[name=reason]", "请先补缴党费后再申请")
            page.click("[data-test=return]")  # asks once more (accepted), then says what happened
            page.wait_for_load_state("networkidle")
            assert "已退回，已通知申请人" in page.inner_text("main")
            for _ in range(60):  # the workflow records the decision a moment later
                if page.get_attribute("[data-test=transfer-status]", "data-status") == "returned":
                    break
                time.sleep(0.5)
                page.reload()
            assert page.get_attribute("[data-test=transfer-status]", "data-status") == "returned"
            assert page.locator("[data-test=approve], [data-test=return]").count() == 0
            desk.check("transfer-returned")
    desk.visit("/roster?q=张", "roster-search")
    assert "张晓明" in desk.page.inner_text("[data-test=roster]")
    assert "暂无记录" not in desk.page.inner_text("[data-test=roster]")
    desk.page.locator("[data-test=member-link]", has_text="张晓明").click()
    desk.page.wait_for_url(re.compile(r"/members/[^/]+$"))
    assert "张晓明" in desk.page.inner_text("[data-test=member-name]")
    desk.page.wait_for_load_state("networkidle")
    desk.check("member")
    if viewport == "desk":
        desk.page.goto("/roster")
        pick(desk, "member_id", "李", "李红")
        desk.page.click("section.card form.grid button")
        desk.page.wait_for_load_state("networkidle")
        assert "报到成功" in desk.page.inner_text("main")
        desk.check("grid-visit")
        # A new member through the form: a short phone is refused in Chinese, then saved.
        desk.visit("/members/new", "member-new")
        page = desk.page
        page.fill("input[name=name]", "陈静")
        page.fill("input[name=birth_date]", "1991-03-08")
        page.fill("input[name=id_number]", id_number(date(1991, 3, 8)))
        page.fill("input[name=phone]", "139000")
        page.fill("input[name=joined_on]", "2016-07-01")
        page.fill("input[name=dues_paid_through]", date.today().strftime("%Y-%m"))
        page.click("[data-test=save-member]")
        assert page.inner_text("[data-field-error=phone]") == "请输入 11 位手机号"
        desk.check("member-new-error")
        page.fill("input[name=phone]", "13900001111")
        page.click("[data-test=save-member]")
        page.wait_for_url(re.compile(r"/members/[^/]+$"))
        assert "陈静" in page.inner_text("[data-test=member-name]") and "党员已登记" in page.inner_text("main")
        page.click("[data-test=edit-member]")
        page.wait_for_url(re.compile(r"/edit$"))
        assert page.input_value("input[name=name]") == "陈静"
        desk.check("member-edit")
    desk.done()


@pytest.mark.parametrize("viewport", ["desk", "phone"])
def test_a_township_officer_runs_tasks_and_reaches_every_desk_page(browser, stack, place, viewport):  # noqa: F811
    desk = Desk(browser, stack.url("console"), "officer", viewport)
    sign_in_staff(desk, "township_officer", place["township"], "周干事")
    menu = desk.menu()
    for wanted in ("/roster", "/inflow", "/ledger", "/dashboard", "/stations", "/stats", "/ranking", "/preferences"):
        assert wanted in menu, f"{wanted} missing from the officer's menu {menu}"
    for path in menu:
        desk.visit(path, path.strip("/").replace("/", "_"))
    desk.visit("/stations", "stations")
    assert "灵芝驿站" in desk.page.inner_text("[data-test=stations]")
    desk.page.click("[data-test=station-screen-link]")
    desk.page.wait_for_url(re.compile(r"/screen$"))
    desk.page.wait_for_load_state("networkidle")
    assert desk.page.locator("[data-test=screen-code] svg").count() == 1  # the QR, refreshed before expiry
    desk.check("station-screen")
    desk.visit("/tasks/new", "task-new")
    assert "灵芝街道（测试）" in desk.page.inner_text("[data-test=task-org]")  # a name, not a code to type
    desk.visit(f"/tasks/{place['task']}", "task")
    task = requests.get(
        f"{stack.url('tasks')}/api/v1/tasks/{place['task']}",
        headers=bearer("township_officer", place["township"], f"township_officer-{place['township']}"),
        timeout=10,
    ).json()
    if "allowed_actions" not in task:
        assert desk.page.locator("[data-test=publish], [data-test=cancel], [data-test=claim]").count() == 0
    desk.visit("/roster", "roster")
    assert desk.page.locator("[data-test=roster] th", has_text="所在支部").count() == 1  # above branch level
    # The township's dashboard: one row per branch, each figure a link to that branch's list.
    desk.visit("/dashboard", "dashboard")
    rows = desk.page.locator("[data-test=breakdown] tr[data-child]")
    assert sorted(rows.all_inner_texts())[0].startswith("灵芝第") and rows.count() == 2
    assert desk.page.locator(f"tr[data-child={place['other']}] [data-test=child-mobile]").inner_text() == "1"
    desk.page.locator(f"tr[data-child={place['other']}] [data-test=child-mobile]").click()
    desk.page.wait_for_load_state("networkidle")
    assert desk.page.locator("tbody tr[data-member]").all_inner_texts()[0].startswith("钱进")
    desk.page.goto("/dashboard")
    assert follow_figure(desk, "mobile") >= 1
    desk.done()


@pytest.mark.parametrize("viewport", ["desk", "phone"])
def test_the_county_department_reads_its_dashboard_from_stats(browser, stack, place, viewport):  # noqa: F811
    desk = Desk(browser, stack.url("console"), "county", viewport)
    sign_in_staff(desk, "org_department", place["county"], "赵部长")
    menu = desk.menu()
    for wanted in ("/roster", "/inflow", "/ledger", "/dashboard", "/stats", "/ranking", "/staff", "/audit", "/stations"):
        assert wanted in menu, f"{wanted} missing from the department's menu {menu}"
    for path in menu:
        desk.visit(path, path.strip("/").replace("/", "_"))
    desk.visit("/dashboard", "dashboard")
    assert desk.page.locator("[data-test=coverage]").count() == 1
    # One row per township; the flows by province drawn, their table beside.
    township = desk.page.locator(f"tr[data-child={place['township']}]")
    assert "灵芝街道（测试）" in township.inner_text()
    assert desk.page.get_attribute("[data-test=member-flow-chart]", "data-drawn") == "true"
    assert "广东省" in desk.page.inner_text("[data-test=member-flow-table]")
    assert desk.page.get_attribute("[data-test=flow-chart]", "data-drawn") == "true"
    flows = desk.page.inner_text("[data-test=transfer-flow-table]")
    assert "广东省（测试）" in flows
    assert follow_figure(desk, "dues-behind") >= 1
    desk.page.goto("/dashboard")
    township.locator("[data-test=child-link]").click()
    desk.page.wait_for_url(re.compile(rf"/dashboard\?org={place['township']}$"))
    desk.page.wait_for_load_state("networkidle")
    assert desk.page.locator("[data-test=breakdown] tr[data-child]").count() == 2  # the township's branches
    desk.check("dashboard-township")
    desk.visit(f"/not-reached?org={place['county']}", "not-reached")
    # The staff directory of a branch below: a secretary is added, then removed after confirming.
    desk.visit(f"/staff?org={place['branch']}", "staff-branch")
    page = desk.page
    assert page.locator("select[name=role] option").all_inner_texts() == ["支部书记"]  # fits a branch
    if viewport == "desk":
        page.fill("[data-test=add-staff] input[name=name]", "吴敏")
        page.fill("[data-test=add-staff] input[name=subject]", f"wumin-{place['branch']}")
        page.click("[data-test=save-staff]")
        page.wait_for_load_state("networkidle")
        assert "吴敏" in page.inner_text("[data-test=staff]")
        desk.check("staff-added")
        page.locator("tr", has_text="吴敏").locator("[data-test=remove-staff]").click()  # confirm accepted
        page.wait_for_load_state("networkidle")
        assert "吴敏" not in page.inner_text("[data-test=staff]")
        desk.visit("/audit?action=assign", "audit-assign")
        assert "分配" in page.inner_text("[data-test=audit]")
    # The lost-contact course on the member page: the department's decision, confirmed.
    desk.visit(f"/members/{place['course']}", "member-standing")
    assert page.locator("[data-test=standing-form]").count() == 1
    if viewport == "desk":
        page.select_option("[data-test=standing-form] select[name=standing]", "suspended")
        page.fill("[data-test=standing-form] textarea[name=reason]", "失联超过六个月，经多次联系未果")
        page.click("[data-test=decide-standing]")
        page.wait_for_load_state("networkidle")
        assert "已作出停止党籍决定" in page.inner_text("main")
        assert page.get_attribute("[data-test=standing-panel]", "data-standing") == "suspended"
        desk.check("member-suspended")
    desk.done()


@pytest.mark.parametrize("viewport", ["phone", "desk"])
def test_a_letter_qr_opens_the_public_verification_page_in_chinese(browser, stack, viewport):  # noqa: F811
    desk = Desk(browser, stack.url("console"), "public", viewport)
    response = desk.page.goto("/verify?n=ZJ-2026-000000&c=0000")  # no sign-in; no such letter
    assert response is not None and response.status == 404
    assert desk.page.inner_text("[data-test=verdict]") == "未查到"
    desk.check("verify")
    desk.done()
