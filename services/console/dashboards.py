"""The dashboard of each desk (issue 22), from the APIs' stats endpoints only.

A branch secretary sees their branch; a township officer their branches; a county's department
(and the admin) their townships. Every figure is a link to the list that holds the same members
or transfers (the roster with the same filter, the not-reached list, the inbox box, the task
board), so a number can always be checked by opening it. Nothing here reads the ledger: that is
an export, audited each time.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import url_for

from services.console.backend import ApiError, Backend, items_of
from services.console.translation import t

CHINA = timezone(timedelta(hours=8))
OFFICERS = ("township_officer", "org_department", "admin")
# Task stats are kept per township and up; a secretary counts the open tasks its board offers.
OPEN_TASKS_READ = 100
# The stats calls of a dashboard, made at once. Kept for the process's life, so its threads keep
# their kept-alive connections to the APIs (the backend's sessions are per thread).
_CALLS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dashboard-stats")
TASK_STATUSES = ("draft", "open", "in_progress", "completed", "evaluated", "cancelled")


@dataclass(frozen=True)
class Figure:
    label: str
    value: Any
    href: str
    test: str
    warn: bool = False


@dataclass(frozen=True)
class ChildRow:
    code: str
    name: str
    href: str
    cells: list[Figure]


@dataclass
class Dashboard:
    org: str
    org_name: str
    month: str
    role: str
    members: list[Figure] = field(default_factory=list)
    transfers: list[Figure] = field(default_factory=list)
    tasks: list[Figure] = field(default_factory=list)
    overdue_stages: list[Figure] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    children: list[ChildRow] = field(default_factory=list)
    transfer_flows: list[dict[str, Any]] = field(default_factory=list)
    member_flows: list[dict[str, Any]] = field(default_factory=list)
    task_status: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def sankey(self) -> dict[str, Any]:
        """Provinces sending on the left, the org in the middle, provinces receiving on the right.
        A province on both sides is two nodes (a Sankey has no cycles)."""
        centre = self.org_name or self.org
        # Colours say the side: sending provinces blue, the org red, receiving provinces amber.
        nodes: list[dict[str, Any]] = [{"name": centre, "itemStyle": {"color": "#c0392b"}}]
        links: list[dict[str, Any]] = []
        for row in self.transfer_flows:
            if row["in"]:
                source = t("dashboard.from_province", row["name"])
                nodes.append({"name": source, "itemStyle": {"color": "#2e6da4"}})
                links.append({"source": source, "target": centre, "value": row["in"]})
            if row["out"]:
                target = t("dashboard.to_province", row["name"])
                nodes.append({"name": target, "itemStyle": {"color": "#8a4500"}})
                links.append({"source": centre, "target": target, "value": row["out"]})
        return {"kind": "sankey", "nodes": nodes, "links": links}

    @property
    def member_bars(self) -> dict[str, Any]:
        return {
            "kind": "bars",
            "labels": [row["name"] for row in self.member_flows],
            "series": [
                {"name": t("dashboard.outflows"), "values": [row["out"] for row in self.member_flows]},
                {"name": t("dashboard.inflows"), "values": [row["in"] for row in self.member_flows]},
            ],
        }


def this_month() -> str:
    return datetime.now(CHINA).strftime("%Y-%m")


def _read(backend: Backend, path: str, query: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The figures, or {} with the path noted: one service down leaves the others on the page."""
    return _answer(lambda: backend.get(path, query), path, problems)


def _answer(result: Callable[[], Any], path: str, problems: list[str]) -> dict[str, Any]:
    try:
        found = result()
    except ApiError as error:
        if error.status == 401:
            raise
        problems.append(path)
        return {}
    return found if isinstance(found, dict) else {}


def build(backend: Backend, role: str, org: str, org_name: str) -> Dashboard:
    month = this_month()
    board = Dashboard(org=org, org_name=org_name, month=month, role=role)
    problems = board.problems
    calls = {
        "breakdown": ("/api/v1/stats/breakdown", {"org": org, "month": month}),
        "flows": ("/api/v1/stats/flows", {"org": org}),
        "transfers": ("/api/v1/stats/transfers", {"org": org}),
    }
    if role in OFFICERS:
        calls["tasks"] = ("/api/v1/stats/tasks", {"org": org})
    # At the same time: the page waits for its slowest figure, not for the sum of them all.
    pending = {name: _CALLS.submit(backend.get, path, query) for name, (path, query) in calls.items()}
    answers = {name: _answer(future.result, calls[name][0], problems) for name, future in pending.items()}
    breakdown, flows, transfers = answers["breakdown"], answers["flows"], answers["transfers"]
    tasks = answers.get("tasks", {})
    totals = breakdown.get("totals") or {}
    board.members = _member_figures(org, month, totals, flows)
    board.transfers = _transfer_figures(org, transfers)
    board.overdue_stages = [
        Figure(
            t("stage." + stage), count, _inbox("todo", org, f"pending_{stage}"), f"overdue-{stage}", warn=True
        )
        for stage, count in sorted((transfers.get("overdue_by_stage") or {}).items())
    ]
    if role in OFFICERS:
        board.tasks = _task_figures(org, tasks)
        by_status = tasks.get("by_status") or {}
        # In the order a task goes through them (the API sends them sorted by name).
        board.task_status = {status: by_status[status] for status in TASK_STATUSES if status in by_status}
        board.task_status.update(
            {status: count for status, count in by_status.items() if status not in TASK_STATUSES}
        )
    else:
        board.tasks = _open_tasks(backend, org, problems)
    board.columns, board.children = _children(breakdown, tasks)
    board.transfer_flows = _merged(transfers.get("in_by_province"), transfers.get("out_by_province"))
    board.member_flows = _merged(flows.get("inflows"), flows.get("outflows"))
    return board


def _dash(value: Any) -> Any:
    return "–" if value is None else value


def _member_figures(org: str, month: str, totals: dict[str, Any], flows: dict[str, Any]) -> list[Figure]:
    roster = lambda **filters: url_for("members.roster", branch=org, **filters)  # noqa: E731
    inflows = flows.get("inflows")
    return [
        Figure(t("dashboard.members"), _dash(totals.get("members")), roster(), "members"),
        Figure(
            t("dashboard.mobile_members"),
            _dash(totals.get("mobile_members")),
            roster(mobile="true"),
            "mobile",
        ),
        Figure(
            t("dashboard.not_reached"),
            _dash(totals.get("not_reached")),
            url_for("admin.not_reached", org=org, month=month),
            "not-reached",
            warn=True,
        ),
        Figure(
            t("dashboard.lost_contact"),
            _dash(totals.get("lost_contact")),
            roster(mobile="true", lost_contact="true"),
            "lost-contact",
            warn=True,
        ),
        Figure(
            t("dashboard.dues_behind"),
            _dash(totals.get("dues_behind")),
            roster(dues_behind="true"),
            "dues-behind",
            warn=True,
        ),
        Figure(
            t("dashboard.inflow_members"),
            sum(row["count"] for row in inflows) if inflows is not None else "–",
            url_for("admin.inflow_roster", org=org),
            "inflow",
        ),
    ]


def _inbox(box: str, org: str, status: str | None = None) -> str:
    return url_for("transfers.inbox", box=box, scope="subtree", org=org, status=status)


def _transfer_figures(org: str, stats: dict[str, Any]) -> list[Figure]:
    return [
        Figure(t("dashboard.todo"), _dash(stats.get("todo")), _inbox("todo", org), "todo"),
        Figure(
            t("dashboard.overdue"), _dash(stats.get("overdue")), _inbox("todo", org), "overdue", warn=True
        ),
        Figure(t("dashboard.coming"), _dash(stats.get("coming")), _inbox("coming", org), "coming"),
        Figure(t("dashboard.pending"), _dash(stats.get("pending")), _inbox("pending", org), "pending"),
        Figure(t("dashboard.in"), _dash(stats.get("in_this_year")), _inbox("done", org), "in-this-year"),
        Figure(t("dashboard.out"), _dash(stats.get("out_this_year")), _inbox("done", org), "out-this-year"),
    ]


def _percent(rate: Any) -> str:
    return "–" if rate is None else f"{round(float(rate) * 100)}%"


def _task_figures(org: str, stats: dict[str, Any]) -> list[Figure]:
    by_status = stats.get("by_status") or {}
    board = lambda **filters: url_for("tasks.board", org=org, **filters)  # noqa: E731
    return [
        Figure(t("dashboard.tasks_open"), _dash(by_status.get("open")), board(status="open"), "tasks-open"),
        Figure(t("dashboard.tasks_in_progress"), _dash(by_status.get("in_progress")), board(status="in_progress"), "tasks-in-progress"),
        Figure(t("dashboard.tasks_overdue"), _dash(stats.get("overdue")), board(overdue="true"), "tasks-overdue", warn=True),
        Figure(t("dashboard.completion"), _percent(stats.get("completion_rate")) if stats else "–", url_for("tasks.stats", org=org), "completion"),
    ]  # fmt: skip


def _open_tasks(backend: Backend, org: str, problems: list[str]) -> list[Figure]:
    page = _read(backend, "/api/v1/tasks", {"status": "open", "limit": OPEN_TASKS_READ}, problems)
    count: Any = len(items_of(page)) if page else "–"
    if page.get("next_cursor"):
        count = f"{OPEN_TASKS_READ}+"
    return [Figure(t("dashboard.tasks_open"), count, url_for("tasks.board", status="open"), "tasks-open")]


def _children(breakdown: dict[str, Any], tasks: dict[str, Any]) -> tuple[list[str], list[ChildRow]]:
    """One row per child org: its figures as links into its own lists; task completion beside
    where the children hold tasks (a county's townships; a township's branches hold none)."""
    completion = {row["org_code"]: row for row in tasks.get("by_org") or []}
    columns = [t("dashboard.members"), t("dashboard.mobile_members"), t("dashboard.not_reached"),
               t("dashboard.lost_contact"), t("dashboard.dues_behind")]  # fmt: skip
    if completion:
        columns.append(t("dashboard.completion"))
    month = breakdown.get("month") or this_month()
    rows = []
    for item in breakdown.get("items") or []:
        code = item["org_code"]
        roster = lambda **filters: url_for("members.roster", branch=code, **filters)  # noqa: E731, B023
        cells = [
            Figure(columns[0], item["members"], roster(), "child-members"),
            Figure(columns[1], item["mobile_members"], roster(mobile="true"), "child-mobile"),
            Figure(columns[2], item["not_reached"], url_for("admin.not_reached", org=code, month=month), "child-not-reached", warn=True),
            Figure(columns[3], item["lost_contact"], roster(mobile="true", lost_contact="true"), "child-lost", warn=True),
            Figure(columns[4], item["dues_behind"], roster(dues_behind="true"), "child-dues", warn=True),
        ]  # fmt: skip
        if completion:
            done = completion.get(code)
            cells.append(
                Figure(
                    columns[5],
                    _percent(done["completion_rate"]) if done else "–",
                    url_for("tasks.board", org=code),
                    "child-tasks",
                )
            )
        # A branch has no children to break down: its row opens its roster instead.
        href = roster() if item.get("level") == "branch" else url_for("members.dashboard", org=code)
        rows.append(ChildRow(code, item.get("name") or code, href, cells))
    return columns, rows


def _merged(inflows: Any, outflows: Any) -> list[dict[str, Any]]:
    """In and out per province in one list, the busiest first. Keyed by the name: registration
    names a destination by its region code and an origin by its province org."""
    merged: dict[str, dict[str, Any]] = {}
    for side, rows in (("in", inflows or []), ("out", outflows or [])):
        for row in rows:
            name = row.get("name") or row["code"]
            entry = merged.setdefault(name, {"code": row["code"], "name": name, "in": 0, "out": 0})
            entry[side] += int(row["count"])
    return sorted(merged.values(), key=lambda entry: (-(entry["in"] + entry["out"]), entry["code"]))
