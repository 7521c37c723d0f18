"""Desk lists and admin pages (issue 22, second part): the inflow roster and the not-reached-this-
month list, the staff directory of an org, the audit log reader, stations, and the lost-contact
course's standing decision on the member page.

Every page shows what the APIs answer for the signed-in person; the APIs decide who may do what,
so a refusal is said in Chinese above an intact page.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from services.console import audit_reader
from services.console.backend import ApiError, api_path, items_of
from services.console.errors import plain_error
from services.console.views_documents import pdf_passthrough
from services.console.views_members import CHINA, member_page
from services.console.web import Page, api, body_from, signed_in, t, user

blueprint = Blueprint("admin", __name__)

LIST_PAGE = 25
STAFF = ("branch_secretary", "township_officer", "org_department")
DEPARTMENT = ("org_department",)
STATION_STAFF = ("township_officer", "org_department")
# The role a person may hold at an org of each level (registration refuses any other: 422 `role`).
ROLE_FOR_LEVEL = {
    "branch": "branch_secretary",
    "township": "township_officer",
    "county": "org_department",
    "city": "org_department",
    "province": "org_department",
    "national": "org_department",
}
# The audit actions people look for; the reader also shows any other the APIs write.
AUDIT_ACTIONS = (
    "create", "update", "read_full", "list_masked", "export_ledger", "import", "record_contact_attempt",
    "flag_lost_contact", "decide_standing", "announce_suspension_due", "remind_coverage", "move_relationship",
    "read_activity_card", "apply", "approve", "reject", "return", "withdraw", "urge", "reissue", "read_letter",
    "assign", "remove", "claim", "publish", "cancel", "complete", "rotate_key",
)  # fmt: skip
# The audit log lives in each service; the reader merges them (or reads one).
AUDIT_SOURCES = audit_reader.SOURCES
STATION_KINDS = ("home", "station", "service_point")
DONE_STANDING = {
    "suspended": "done.standing.suspended",
    "restored": "done.standing.restored",
    "removed": "done.standing.removed",
}
STATION_FIELDS = ("code", "name", "kind", "host_org_code", "region", "address", "open_hours")


def org_of_request() -> str:
    return (request.args.get("org") or user()["org"]).strip()  # type: ignore[index]


def _read_page(path: str, query: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """One page of a list, or (None, the refusal in Chinese): the page still renders."""
    try:
        found = api().get(path, query)
    except ApiError as error:
        if error.status == 401:
            raise
        return None, plain_error(error)[0]
    return (found if isinstance(found, dict) else {"items": found}), None


def this_month() -> str:
    return datetime.now(CHINA).strftime("%Y-%m")


def inflow_query() -> dict[str, Any]:
    return {"inflow_branch": org_of_request()}


def not_reached_query() -> dict[str, Any]:
    return {"org": org_of_request(), "mobile": "true", "not_reached_in": request.args.get("month") or this_month()}


@blueprint.get("/inflow")
@signed_in(*STAFF)
def inflow_roster() -> Page:
    """流入党员: members with an open inflow at the caller's branch, or anywhere under their org."""
    org = org_of_request()
    page, problem = _read_page("/api/v1/members", {**inflow_query(), "limit": LIST_PAGE, "cursor": request.args.get("cursor")})
    return render_template(
        "member_list.html", title=t("nav.inflow"), kind="inflow", org_code=org, page=page or {},
        members=items_of(page), error_message=problem,
    ), (200 if page is not None else 503)  # fmt: skip


@blueprint.get("/not-reached")
@signed_in(*STAFF)
def not_reached() -> Page:
    """本月未联系: mobile members with neither a check-in nor a reached contact attempt this month."""
    org = org_of_request()
    month = not_reached_query()["not_reached_in"]
    page, problem = _read_page(
        "/api/v1/members", {**not_reached_query(), "limit": LIST_PAGE, "cursor": request.args.get("cursor")}
    )
    return render_template(
        "member_list.html", title=t("list.not_reached").format(month), kind="not_reached", org_code=org,
        page=page or {}, members=items_of(page), error_message=problem,
    ), (200 if page is not None else 503)  # fmt: skip


def _org(code: str) -> dict[str, Any]:
    return api().get_or_none(api_path("/api/v1/orgs/{}", code)) or {"code": code, "level": ""}


@blueprint.get("/staff")
@signed_in(*DEPARTMENT)
def staff() -> Page:
    """The staff of one org (the caller's, or one below it chosen from the list of its children)."""
    return _staff_page(org_of_request())


def _staff_page(code: str, status: int = 200, **extra: Any) -> Page:
    backend = api()
    org = _org(code)
    page, problem = _read_page(api_path("/api/v1/orgs/{}/staff", code), {})
    children = items_of(backend.get_or_none("/api/v1/orgs", {"parent": code, "limit": 100}))
    role = ROLE_FOR_LEVEL.get(str(org.get("level")), "")
    return render_template(
        "staff.html", org=org, people=items_of(page), children=children, role=role,
        error_message=extra.pop("error_message", None) or problem, **extra,
    ), status  # fmt: skip


@blueprint.post("/staff")
@signed_in(*DEPARTMENT)
def add_staff() -> Page:
    code = (request.form.get("org") or "").strip()
    body = body_from(request.form, ("subject", "name", "role"))
    try:
        api().post(api_path("/api/v1/orgs/{}/staff", code), body)
    except ApiError as error:
        if error.status == 401:
            raise
        message, fields = plain_error(error)
        return _staff_page(code, error.status, error_message=message, field_errors=fields, form=request.form)
    flash(t("done.staff_added").format(body.get("name", "")), "ok")
    return redirect(url_for("admin.staff", org=code))


@blueprint.post("/staff/<staff_id>/remove")
@signed_in(*DEPARTMENT)
def remove_staff(staff_id: str) -> Page:
    code = (request.form.get("org") or "").strip()
    try:
        api().delete(api_path("/api/v1/orgs/{}/staff/{}", code, staff_id))
    except ApiError as error:
        if error.status == 401:
            raise
        return _staff_page(code, error.status, error_message=plain_error(error)[0])
    flash(t("done.staff_removed"), "ok")
    return redirect(url_for("admin.staff", org=code))


def _china_midnight(text: str, days_after: int = 0) -> str | None:
    """A date the reader picked (China) as the instant the API takes; `until` is exclusive, so the
    "to" date is the midnight after it and includes that whole day. Not a date: None (the form
    says so)."""
    try:
        day = date.fromisoformat(text) + timedelta(days=days_after)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=CHINA).isoformat()


@blueprint.get("/audit")
@signed_in(*DEPARTMENT)
def audit() -> Page:
    """The audit logs of all four services (or one), merged newest first, narrowed by action, actor
    and China dates; paged with one position per service (services.console.audit_reader)."""
    asked = request.args.get("source") or ""
    filters = {name: (request.args.get(name) or "").strip() for name in ("action", "actor", "since", "until")}
    field_errors = {
        name: t("field_error.date")
        for name in ("since", "until")
        if filters[name] and _china_midnight(filters[name]) is None
    }
    try:
        merged = read_audit(LIST_PAGE, request.args.get("cursor"))
    except audit_reader.BadCursor:
        merged = read_audit(LIST_PAGE, None)
    sources = audit_sources()
    problems = [f"{t('audit_source.' + name)}：{words}" for name, words in merged.problems.items()]
    readable = len(merged.problems) < len(sources)
    return render_template(
        "audit.html", entries=merged.entries, next_cursor=merged.next_cursor, filters=filters,
        source=asked if asked in AUDIT_SOURCES else "", sources=AUDIT_SOURCES, actions=AUDIT_ACTIONS,
        error_message="；".join(problems) or None, field_errors=field_errors,
        names=_staff_names(merged.entries),
    ), (200 if readable else 503)  # fmt: skip


def audit_sources() -> tuple[str, ...]:
    asked = request.args.get("source") or ""
    return (asked,) if asked in AUDIT_SOURCES else AUDIT_SOURCES


def read_audit(limit: int, cursor: str | None) -> audit_reader.MergedPage:
    """One merged page of the audit logs the reader's filters (query string) choose."""
    filters = {name: (request.args.get(name) or "").strip() for name in ("action", "actor", "since", "until")}
    query = {
        "org": user()["org"] if user()["role"] != "admin" else None,  # type: ignore[index]
        "action": filters["action"] or None,
        "actor": _actor_subject(filters["actor"]) or None,
        "since": _china_midnight(filters["since"]),
        "until": _china_midnight(filters["until"], days_after=1),
    }
    backend = api()

    def fetch(source: str, page_query: dict[str, Any]) -> dict[str, Any]:
        found = backend.get_from(source, "/api/v1/audit", page_query)
        return found if isinstance(found, dict) else {"items": found}

    def describe(error: Exception) -> str | None:
        if isinstance(error, ApiError) and error.status != 401:
            return plain_error(error)[0]
        return None

    return audit_reader.read_merged(fetch, audit_sources(), query, limit, cursor, describe)


def _actor_subject(text: str) -> str:
    """The reader types a person's name or their sign-in subject: a name of the caller's own
    staff directory becomes that person's subject; anything else is taken as a subject."""
    if not text:
        return ""
    try:
        people = items_of(api().get(api_path("/api/v1/orgs/{}/staff", user()["org"])))  # type: ignore[index]
    except ApiError as error:
        if error.status == 401:
            raise
        return text
    named = [str(person["subject"]) for person in people if person.get("name") == text and person.get("subject")]
    return named[0] if len(named) == 1 else text


# Staff directories read to name the actors of one audit page (the caller's org and the orgs the
# entries are about, at most this many): a page of 25 entries stays a handful of calls.
MAX_DIRECTORIES = 8


def _staff_names(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Actor subject → the name the staff directory gives it, where one does."""
    orgs = list(dict.fromkeys([user()["org"], *(e["org_code"] for e in entries if e.get("org_code"))]))  # type: ignore[index]
    names: dict[str, str] = {}
    backend = api()
    for code in orgs[:MAX_DIRECTORIES]:
        try:
            people = items_of(backend.get(api_path("/api/v1/orgs/{}/staff", code)))
        except ApiError as error:
            if error.status == 401:
                raise
            continue  # not the caller's to read, or gone: the subject is shown instead
        names.update({str(person.get("subject")): str(person.get("name")) for person in people if person.get("name")})
    return names


@blueprint.get("/stations")
@signed_in(*STATION_STAFF)
def stations() -> Page:
    return _stations_page()


def _stations_page(status: int = 200, **extra: Any) -> Page:
    org = user()["org"]  # type: ignore[index]
    page, problem = _read_page("/api/v1/stations", {"org": org, "limit": LIST_PAGE, "cursor": request.args.get("cursor")})
    hosts = [_org(org), *items_of(api().get_or_none("/api/v1/orgs", {"under": org, "level": "township", "limit": 100}))]
    hosts += items_of(api().get_or_none("/api/v1/orgs", {"under": org, "level": "branch", "limit": 100}))
    unique = {host["code"]: host for host in hosts if host.get("level") in ("township", "branch")}
    return render_template(
        "stations.html", stations=items_of(page), page=page or {}, hosts=list(unique.values()), kinds=STATION_KINDS,
        error_message=extra.pop("error_message", None) or problem, **extra,
    ), status  # fmt: skip


@blueprint.post("/stations")
@signed_in(*STATION_STAFF)
def add_station() -> Page:
    try:
        made = api().post("/api/v1/stations", body_from(request.form, STATION_FIELDS))
    except ApiError as error:
        if error.status == 401:
            raise
        message, fields = plain_error(error)
        return _stations_page(error.status, error_message=message, field_errors=fields, form=request.form)
    flash(t("done.station_added").format(made.get("name", "")), "ok")
    return redirect(url_for("admin.stations"))


@blueprint.post("/stations/<code>/rotate-key")
@signed_in(*STATION_STAFF)
def rotate_key(code: str) -> Page:
    try:
        api().post(api_path("/api/v1/stations/{}/rotate-key", code))
    except ApiError as error:
        if error.status == 401:
            raise
        return _stations_page(error.status, error_message=plain_error(error)[0])
    flash(t("done.station_rotated"), "ok")
    return redirect(url_for("admin.stations"))


@blueprint.get("/stations/<code>/poster.pdf")
@signed_in(*STATION_STAFF)
def poster(code: str) -> Page:
    """张贴码海报: the A4 poster, opened in the browser to print."""
    return pdf_passthrough(api_path("/api/v1/stations/{}/poster.pdf", code), f"poster-{code}.pdf")


@blueprint.post("/members/<member_id>/standing")
@signed_in(*DEPARTMENT)
def decide_standing(member_id: str) -> Page:
    """The lost-contact course's decision (停止党籍 / 恢复 / 除名), with a reason and a date."""
    body = body_from(request.form, ("standing", "reason", "decided_on"))
    try:
        api().post(api_path("/api/v1/members/{}/standing", member_id), body)
    except ApiError as error:
        if error.status == 401:
            raise
        message, fields = plain_error(error)
        return member_page(member_id, error.status, error_message=message, field_errors=fields, form=request.form)
    flash(t(DONE_STANDING.get(str(body.get("standing")), "done.standing.suspended")), "ok")
    return redirect(url_for("members.member", member_id=member_id))
