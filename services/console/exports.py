"""导出: every list table of the console downloads what it shows — the rows matching the page's
filters and sort, all pages of them up to EXPORT_CAP rows — as a csv for people: a UTF-8 BOM, a
title row, headers in the page's language, org names beside org codes, China time, yes/no in
words, and no cell a spreadsheet would run as a formula (shared.sheets).

Each export reads the same API list, with the same filters, as its page (the views' `*_query`
functions), with the caller's token: the APIs decide the scope, and they audit what they audit
(a member list of more than one member as `list_masked`, the ledger as `export_ledger`). The
console writes no audit entry of its own, and opening a page reads nothing for its export.

The roster showing mobile members only is the ledger's outflow side: that export is registration's
`GET /ledger` itself (csv or xlsx, streamed, uncapped, audited as `export_ledger`), not re-paged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, render_template, request, url_for

from services.console import directory, views_admin, views_members, views_tasks, views_transfers
from services.console.backend import ApiError, Backend, api_path, items_of
from services.console.errors import plain_error
from services.console.translation import has_message
from services.console.web import Page, api, settings, signed_in, t, user
from shared import sheets

blueprint = Blueprint("exports", __name__)

# Rows in one export: enough for a county's lists, few enough that an export is a few seconds of
# API pages (200 rows each) and never a ledger-sized read through the console. Said on the page.
EXPORT_CAP = 5000
API_PAGE = 200
CHINA_TIME = "%Y-%m-%d %H:%M"
STAFF = ("branch_secretary", "township_officer", "org_department")


@dataclass(frozen=True)
class Column:
    key: str  # the sort key: the page's column header carries it as data-key
    header: str  # a message key
    value: Callable[[dict[str, Any]], Any]
    org: bool = False  # an org code: the export writes "<header>代码" and the name beside it


@dataclass(frozen=True)
class Table:
    title: str  # a message key
    columns: tuple[Column, ...]
    rows: Callable[[int], tuple[list[dict[str, Any]], bool]]  # (up to cap rows, whether cut short)
    roles: tuple[str, ...] = STAFF


def china_time(value: Any) -> str:
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if parsed.tzinfo is None:
        return parsed.strftime(CHINA_TIME)
    return parsed.astimezone(views_members.CHINA).strftime(CHINA_TIME)


def yes_no(value: Any) -> str:
    return t("common.yes") if value else t("common.no")


def named(prefix: str, value: Any, unknown: str | None = None) -> str:
    """A code the API names (`transfer_status.pending_township`) in words; an unknown one as is
    (or as the `unknown` message: an audit action the console does not know is 其他操作)."""
    key = f"{prefix}.{value}"
    if not value:
        return ""
    if has_message(key):
        return t(key)
    return t(unknown) if unknown else str(value)


def paged(path: str, query: dict[str, Any]) -> Callable[[int], tuple[list[dict[str, Any]], bool]]:
    """Every page of an API list (API_PAGE rows a call) up to `cap` rows."""

    def read(cap: int) -> tuple[list[dict[str, Any]], bool]:
        backend = api()
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = backend.get(path, {**query, "limit": API_PAGE, "cursor": cursor})
            rows += items_of(page)
            cursor = page.get("next_cursor") if isinstance(page, dict) else None
            if len(rows) >= cap or not cursor:
                return rows[:cap], bool(cursor) or len(rows) > cap

    return read


def whole(path: str) -> Callable[[int], tuple[list[dict[str, Any]], bool]]:
    """A list the API answers in one piece (an org's staff)."""

    def read(cap: int) -> tuple[list[dict[str, Any]], bool]:
        rows = items_of(api().get(path))
        return rows[:cap], len(rows) > cap

    return read


def audit_rows(cap: int) -> tuple[list[dict[str, Any]], bool]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        merged = views_admin.read_audit(API_PAGE, cursor)
        if merged.problems:  # an export must not pass a service's silence off as "nothing"
            raise ApiError(503, "; ".join(merged.problems))
        rows += merged.entries
        cursor = merged.next_cursor
        if len(rows) >= cap or not cursor:
            return rows[:cap], bool(cursor) or len(rows) > cap


MEMBER_NAME = Column("name", "signin.name", lambda row: row.get("name"))
PHONE = Column("phone", "roster.phone", lambda row: row.get("phone"))  # masked by the API
LAST_CONTACT = Column("last_contact_at", "status.last_checkin", lambda row: china_time(row.get("last_contact_at")))
LOST = Column("lost_contact", "status.lost_contact", lambda row: yes_no(row.get("lost_contact")))
HOME_BRANCH = Column("branch_code", "list.home_branch", lambda row: row.get("branch_code"), org=True)


def _tables() -> dict[str, Table]:
    """The tables, built per request: their queries read the request's filters."""
    _, text, roster_query = views_members.roster_filters()
    return {
        "roster": Table(
            "nav.roster",
            (
                MEMBER_NAME,
                Column("branch_code", "status.branch", lambda row: row.get("branch_code"), org=True),
                PHONE,
                Column("id_number", "roster.id_number", lambda row: row.get("id_number")),
                Column("mobile", "status.mobile", lambda row: yes_no(row.get("mobile"))),
                Column("dues_paid_through", "status.dues", lambda row: row.get("dues_paid_through")),
                LAST_CONTACT,
                LOST,
            ),
            paged("/api/v1/members", {**roster_query, "q": text or None}),
        ),
        "inflow": Table(
            "nav.inflow",
            (
                MEMBER_NAME,
                HOME_BRANCH,
                Column("inflow_branch_code", "list.inflow_branch", lambda row: row.get("inflow_branch_code"), org=True),
                PHONE,
                LAST_CONTACT,
                LOST,
            ),
            paged("/api/v1/members", views_admin.inflow_query()),
        ),
        "not_reached": Table(
            "export.not_reached",
            (
                MEMBER_NAME,
                HOME_BRANCH,
                PHONE,
                LAST_CONTACT,
                LOST,
            ),
            paged("/api/v1/members", views_admin.not_reached_query()),
        ),
        "inbox": Table(
            "nav.inbox",
            (
                Column(
                    "member", "transfer.member",
                    lambda row: (row.get("member") or {}).get("name") or row.get("member_name"),
                ),  # fmt: skip
                Column("from_branch_code", "transfer.from", lambda row: row.get("from_branch_code"), org=True),
                Column("to_branch_code", "transfer.to", lambda row: row.get("to_branch_code"), org=True),
                Column("route", "transfer.route", lambda row: named("route", row.get("route"))),
                Column("status", "transfer.status", lambda row: named("transfer_status", row.get("status"))),
                Column("due", "transfer.due", lambda row: china_time((row.get("current_stage") or {}).get("due_at"))),
                Column(
                    "overdue", "transfer.overdue", lambda row: yes_no((row.get("current_stage") or {}).get("overdue"))
                ),
            ),
            paged("/api/v1/transfers", views_transfers.inbox_query()),
            views_transfers.STAGE_HOLDERS,
        ),
        "tasks": Table(
            "task.board",
            (
                Column("title", "field.title", lambda row: row.get("title")),
                Column("status", "transfer.status", lambda row: named("task_status", row.get("status"))),
                Column("org_code", "export.task_org", lambda row: row.get("org_code"), org=True),
                Column("due_on", "field.due_on", lambda row: row.get("due_on")),
                Column("points", "field.points", lambda row: row.get("points")),
                Column("capacity", "field.capacity", lambda row: row.get("capacity")),
                Column("claimed", "export.claimed", lambda row: row.get("claimed")),
                Column("overdue", "task.overdue", lambda row: yes_no(row.get("overdue"))),
            ),
            paged("/api/v1/tasks", views_tasks.board_query()),
        ),
        "staff": Table(
            "nav.staff",
            (
                Column("name", "signin.name", lambda row: row.get("name")),
                Column("role", "staff.role", lambda row: named("role", row.get("role"))),
                Column("subject", "staff.subject", lambda row: row.get("subject")),
                Column("org_code", "audit.org", lambda row: row.get("org_code") or views_admin.org_of_request(), org=True),
            ),
            whole(api_path("/api/v1/orgs/{}/staff", views_admin.org_of_request())),
            views_admin.DEPARTMENT,
        ),
        "stations": Table(
            "nav.stations",
            (
                Column("code", "station.code", lambda row: row.get("code")),
                Column("name", "station.name", lambda row: row.get("name")),
                Column("kind", "station.kind", lambda row: named("station_kind", row.get("kind"))),
                Column("host_org_code", "station.host", lambda row: row.get("host_org_code"), org=True),
                Column("region", "field.region", lambda row: row.get("region")),
                Column("address", "field.address", lambda row: row.get("address")),
                Column("open_hours", "export.open_hours", lambda row: row.get("open_hours")),
            ),
            paged("/api/v1/stations", {"org": user()["org"]}),  # type: ignore[index]
            views_admin.STATION_STAFF,
        ),
        "audit": Table(
            "nav.audit",
            (
                Column("at", "audit.at", lambda row: china_time(row.get("at"))),
                Column("source", "audit.source", lambda row: named("audit_source", row.get("source"))),
                Column(
                    "action", "audit.action",
                    lambda row: named("audit_action", row.get("action"), unknown="audit.other_action"),
                ),  # fmt: skip
                Column("actor_role", "export.actor_role", lambda row: named("role", row.get("actor_role"))),
                Column("actor", "audit.actor", lambda row: row.get("actor")),
                Column("object_type", "audit.object", lambda row: named("audit_object", row.get("object_type"))),
                Column("object_id", "export.object_id", lambda row: row.get("object_id")),
                Column("org_code", "audit.org", lambda row: row.get("org_code"), org=True),
            ),
            audit_rows,
            views_admin.DEPARTMENT,
        ),
    }


EXPORTABLE = ("roster", "inflow", "not_reached", "inbox", "tasks", "staff", "stations", "audit")


def ledger_route(fmt: str = "csv") -> dict[str, str] | None:
    """The ledger query that reads exactly the roster shown, or None: only mobile members of an org,
    with no search and no other filter, are the ledger's outflow side. The ledger keeps its own
    order: a csv sorted by a column is the console's (the xlsx is the ledger's only)."""
    branch, text, filters = views_members.roster_filters()
    sorted_csv = fmt == "csv" and bool(request.args.get("sort"))
    if filters == {"branch": branch, "mobile": "true"} and not text and not sorted_csv:
        return {"org": branch}
    return None


def org_names(codes: Iterable[str]) -> dict[str, str]:
    """Names of the orgs a sheet mentions, looked up a few at a time (cached per process)."""
    wanted = sorted({code for code in codes if code})
    current = settings()
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(wanted, pool.map(lambda code: directory.org_name(current, code), wanted), strict=True))


def _sorted(rows: list[dict[str, Any]], table: Table) -> list[dict[str, Any]]:
    key = request.args.get("sort")
    column = next((column for column in table.columns if column.key == key), None)
    if column is None:
        return rows
    descending = request.args.get("dir") == "desc"

    def order(row: dict[str, Any]) -> tuple[bool, str]:
        value = column.value(row)
        return (value in (None, ""), str(value if value is not None else ""))

    present = [row for row in rows if column.value(row) not in (None, "")]
    absent = [row for row in rows if column.value(row) in (None, "")]
    return sorted(present, key=order, reverse=descending) + absent  # blanks last either way


def sheet(table: Table, rows: list[dict[str, Any]], cut_short: bool) -> tuple[str, list[str], list[list[Any]]]:
    names = org_names(str(column.value(row) or "") for row in rows for column in table.columns if column.org)
    headers: list[str] = []
    for column in table.columns:
        if column.org:
            headers += [t("export.code_of").format(t(column.header)), t(column.header)]
        else:
            headers.append(t(column.header))
    values: list[list[Any]] = []
    for row in rows:
        line: list[Any] = []
        for column in table.columns:
            value = column.value(row)
            if column.org:
                line += [value or "", names.get(str(value), str(value or "")) if value else ""]
            else:
                line.append("" if value is None else value)
        values.append(line)
    scope = directory.org_name(settings(), request.args.get("org") or request.args.get("branch") or user()["org"])  # type: ignore[index]
    exported = datetime.now(views_members.CHINA).strftime(CHINA_TIME)
    title = t("export.title").format(t(table.title), scope, exported)
    if cut_short:
        title += t("export.cut_short").format(EXPORT_CAP)
    return title, headers, values


@blueprint.get("/export/<name>.<fmt>")
@signed_in()
def export(name: str, fmt: str) -> Page:
    """The rows of one list as its page's filters and sort choose them, as a download."""
    if name not in EXPORTABLE or fmt not in ("csv", "xlsx") or (fmt == "xlsx" and name != "roster"):
        return render_template("error.html", message=t("error.404")), 404
    table = _tables()[name]
    if user()["role"] not in (*table.roles, "admin"):  # type: ignore[index]
        return render_template("error.html", message=t("error.403")), 403
    if name == "roster":
        ledger = ledger_route(fmt)
        if ledger is not None:
            return _ledger_download(ledger["org"], fmt)
        if fmt == "xlsx":
            return render_template("error.html", message=t("error.404")), 404
    try:
        rows, cut_short = table.rows(EXPORT_CAP)
    except ApiError as error:
        if error.status == 401:
            raise
        return render_template("error.html", message=plain_error(error)[0]), error.status
    title, headers, values = sheet(table, _sorted(rows, table), cut_short)
    filename = f"{t(table.title)}-{datetime.now(views_members.CHINA).strftime('%Y%m%d-%H%M')}.csv"
    return Response(
        sheets.csv_stream(title, headers, values),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=\"{name}.csv\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


def _ledger_download(org: str, fmt: str) -> Page:
    """Registration's ledger, passed through as it streams (checked and audited by the API)."""
    backend: Backend = api()
    try:
        chunks, content_type = backend.stream("/api/v1/ledger", {"org": org, "format": fmt})
    except ApiError as error:
        if error.status == 401:
            raise
        return render_template("error.html", message=plain_error(error)[0]), error.status
    return Response(
        chunks,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="ledger-{org}.{fmt}"', "Cache-Control": "no-store"},
    )


def export_links(name: str) -> list[tuple[str, str]]:
    """(label, href) of a page's export links, with the page's filters (not its cursor: all pages)."""
    kept = urlencode([(key, value) for key, value in request.args.items(multi=True) if key not in ("cursor", "back")])

    def link(fmt: str) -> str:
        path = url_for("exports.export", name=name, fmt=fmt)
        return f"{path}?{kept}" if kept else path

    links = [(t("export.csv"), link("csv"))]
    if name == "roster" and ledger_route("xlsx") is not None:
        links.append((t("export.xlsx"), link("xlsx")))
    return links
