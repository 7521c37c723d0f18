"""Adopted tasks (实事领办): the officer's board and the members' claims, plus ranking and charts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from services.console.backend import ApiError, Backend, api_path, items_of
from services.console.errors import plain_error
from services.console.web import Page, api, body_from, failed, signed_in, t, user

blueprint = Blueprint("tasks", __name__)

STATUSES = ("draft", "open", "in_progress", "completed", "evaluated", "cancelled")
TASK_FIELDS = ("title", "description", "org_code", "category", "capacity", "due_on", "points")


def board_query() -> dict[str, Any]:
    """The staff's task board filters from the query string (the board and its export)."""
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    query: dict[str, Any] = {"org": request.args.get("org") or user()["org"], "status": status}  # type: ignore[index]
    if request.args.get("overdue") == "true":
        query["overdue"] = "true"
    return query


@blueprint.get("/tasks")
@signed_in()
def board() -> Page:
    current = user()
    assert current is not None
    backend = api()
    if current["role"] == "member":
        return _member_tasks(backend, current["sub"])
    query = board_query()
    org, status = query["org"], query["status"]
    page = backend.get("/api/v1/tasks", {**query, "limit": 100, "cursor": request.args.get("cursor")})
    columns: dict[str, list[dict[str, Any]]] = {name: [] for name in STATUSES}
    for task in items_of(page):
        columns.setdefault(task.get("status", "draft"), []).append(task)
    return render_template(
        "task_board.html", columns=columns, org=org, next_cursor=page.get("next_cursor"), status=status
    )


def _member_tasks(backend: Backend, member_id: str) -> Page:
    claimable = items_of(backend.get("/api/v1/tasks", {"claimable": "true", "limit": 50}))
    mine = []
    details_left = 30  # the list has no claimant filter; bound the detail reads per page view
    for task in items_of(backend.get("/api/v1/tasks", {"limit": 100})):
        if task.get("status") in ("draft", "open", "cancelled") or not task.get("claimed", 1):
            continue
        if task.get("lead_member_id") == member_id:
            mine.append(task)
            continue
        claims = task.get("claims")
        if claims is None and details_left > 0:
            details_left -= 1
            claims = backend.get(api_path("/api/v1/tasks/{}", task['id'])).get("claims", [])
        if any(claim.get("member_id") == member_id for claim in claims or []):
            mine.append(task)
    taken = {task["id"] for task in mine}
    claimable = [task for task in claimable if task["id"] not in taken]
    return render_template("tasks_member.html", claimable=claimable, mine=mine)


@blueprint.route("/tasks/new", methods=["GET", "POST"])
@signed_in("township_officer")
def create() -> Page:
    if request.method == "GET":
        signed = user()
        assert signed is not None  # @signed_in let only a signed-in officer here
        return render_template(
            "task_new.html", form={"org_code": signed["org"], "capacity": "1", "points": "10"}
        )
    body = body_from(request.form, TASK_FIELDS, integers=("capacity", "points"))
    try:
        made = api().post("/api/v1/tasks", body)
    except ApiError as error:
        return failed(error, "task_new.html")
    return redirect(url_for("tasks.detail", task_id=made["id"]))


@blueprint.get("/tasks/<task_id>")
@signed_in()
def detail(task_id: str) -> Page:
    task = api().get(api_path("/api/v1/tasks/{}", task_id))
    return render_template(
        "task.html", task=task, names=_names(api(), [c["member_id"] for c in task.get("claims", [])])
    )


# action → (the API path under the task, the form fields it takes, the integer fields)
ACTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "publish": ("publish", (), ()),
    "cancel": ("cancel", ("reason",), ()),
    "claim": ("claims", ("commitment",), ()),
    "assign": ("assignments", ("member_id",), ()),
    "progress": ("progress", ("note", "percent"), ("percent",)),
    "complete": ("complete", ("summary",), ()),
    "evaluate": ("evaluations", ("rating", "comment", "source"), ("rating",)),
}


@blueprint.post("/tasks/<task_id>/<action>")
@signed_in()
def act(task_id: str, action: str) -> Page:
    if action not in ACTIONS:
        return render_template("error.html", message=t("error.404")), 404
    path, fields, integers = ACTIONS[action]
    body = body_from(request.form, fields, integers)
    if action == "evaluate":
        body["source"] = "member" if user()["role"] == "member" else "org"  # type: ignore[index]
    backend = api()
    try:
        backend.post(api_path("/api/v1/tasks/{}/{}", task_id, path), body)
    except ApiError as error:
        task = backend.get(api_path("/api/v1/tasks/{}", task_id))
        names = _names(backend, [c["member_id"] for c in task.get("claims", [])])
        return failed(error, "task.html", task=task, names=names, failed_action=action)
    flash(t(f"done.task.{action}"), "ok")
    return redirect(url_for("tasks.detail", task_id=task_id))


@blueprint.post("/tasks/<task_id>/withdraw/<member_id>")
@signed_in("member", "township_officer")
def withdraw(task_id: str, member_id: str) -> Page:
    api().delete(api_path("/api/v1/tasks/{}/claims/{}", task_id, member_id))
    flash(t("done.task.withdraw"), "ok")
    return redirect(url_for("tasks.detail", task_id=task_id))


def _names(backend: Backend, member_ids: list[str]) -> dict[str, str]:
    """Member ids read better as names; ids the caller may not read stay ids."""
    names: dict[str, str] = {}
    for member_id in member_ids[:50]:
        try:
            names[member_id] = backend.get(api_path("/api/v1/members/{}", member_id), {"masked": "true"})["name"]
        except (ApiError, KeyError):
            names[member_id] = "—"  # never the internal id
    return names


def current_quarter(today: date | None = None) -> str:
    today = today or date.today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def recent_quarters(count: int = 8, today: date | None = None) -> list[str]:
    """This quarter and the ones before it, newest first: chosen from a list, never typed."""
    year, quarter = (int(part) for part in current_quarter(today).split("-Q"))
    found = []
    for _ in range(count):
        found.append(f"{year}-Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return found


def quarter_label(quarter: str) -> str:
    year, _, number = quarter.partition("-Q")
    return t("ranking.quarter_label").format(year, number) if number.isdigit() else quarter


@blueprint.get("/ranking")
@signed_in("township_officer", "org_department", "branch_secretary")
def ranking() -> Page:
    backend = api()
    org = request.args.get("org") or user()["org"]  # type: ignore[index]
    quarter = request.args.get("quarter") or current_quarter()
    try:
        page = backend.get(
            "/api/v1/points",
            {"org": org, "quarter": quarter, "cursor": request.args.get("cursor"), "limit": 20},
        )
    except ApiError as error:
        return failed(error, "ranking.html", rows=[], names={}, org=org, quarter=quarter, next_cursor=None)
    rows = items_of(page)
    return render_template(
        "ranking.html",
        rows=rows,
        names=_names(backend, [row["member_id"] for row in rows]),
        org=org,
        quarter=quarter,
        next_cursor=page.get("next_cursor"),
    )


@blueprint.get("/stats")
@signed_in("branch_secretary", "township_officer", "org_department")
def stats() -> Page:
    org = request.args.get("org") or user()["org"]  # type: ignore[index]
    problem = None
    try:
        data = api().get("/api/v1/stats/tasks", {"org": org})
    except ApiError as error:
        if error.status == 401:
            raise
        # Tasks are counted per township and up: a branch secretary is told so, with the way to
        # the figures they may read, instead of a bare "no permission" above empty charts.
        data = {}
        problem = t("stats.township_only") if error.status == 403 else plain_error(error)[0]
    by_status = status_counts(data)
    rate = data.get("completion_rate")
    chart = {
        "statuses": [t_status(name) for name in by_status],
        "counts": list(by_status.values()),
        "completion": round(float(rate) * 100, 1) if isinstance(rate, int | float) and rate <= 1 else rate,
    }
    return render_template(
        "stats.html", org=org, data=data, by_status=by_status, chart=json.dumps(chart), unavailable=problem
    )


def status_counts(data: dict[str, Any]) -> dict[str, int]:
    """Counts by status whether the API nests them (`by_status`) or lists them at the top level."""
    nested = data.get("by_status") or data.get("counts") or {}
    source = nested if isinstance(nested, dict) and nested else data
    return {name: int(source.get(name) or 0) for name in STATUSES}


def t_status(name: str) -> str:
    return t(f"task_status.{name}")
