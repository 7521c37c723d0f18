"""Members' own pages (status, check-in, outflow, inflow) and the branch's roster and ledger."""

from __future__ import annotations

import base64
import csv
import io
from collections import Counter
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from services.console.backend import ApiError, items_of
from services.console.errors import plain_error
from services.console.web import Page, api, body_from, failed, signed_in, t, user

blueprint = Blueprint("members", __name__)

OUTFLOW_FIELDS = (
    "destination_region",
    "destination_address",
    "occupation",
    "employer",
    "departed_on",
    "expected_return_on",
    "reason",
    "contact_phone",
)
# A secretary records an arrival with the card the member presents (security review, finding 11).
INFLOW_FIELDS = (
    "branch_code",
    "arrived_on",
    "current_address",
    "occupation",
    "employer",
    "contact_person",
    "activity_card_no",
)
STAFF = ("branch_secretary", "township_officer", "org_department")

# GB/T 2260: the first two digits of a region code name the province (presentation only).
PROVINCES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门",
}  # fmt: skip


@blueprint.get("/me")
@signed_in("member")
def status() -> Page:
    backend = api()
    member = backend.get(f"/api/v1/members/{user()['sub']}")  # type: ignore[index]
    checkins = backend.get_or_none("/api/v1/checkins", {"member_id": member["id"], "limit": 5})
    dues = backend.get_or_none(f"/api/v1/members/{member['id']}/dues", {"limit": 5})
    away = member.get("open_outflow")
    province = PROVINCES.get(str(away["destination_region"])[:2], "") if away else ""
    return render_template(
        "status.html", member=member, checkins=items_of(checkins), dues=items_of(dues), province=province
    )


@blueprint.post("/me/checkin")
@signed_in("member")
def checkin() -> Page:
    current = user()
    assert current is not None
    backend = api()
    try:
        made = backend.post(
            "/api/v1/checkins", {"member_id": current["sub"], "branch_code": current["org"], "kind": "self"}
        )
    except ApiError as error:
        if request.headers.get("HX-Request"):
            message, _ = plain_error(error)
            return render_template("_checkin.html", error_message=message), 200
        raise
    if request.headers.get("HX-Request"):
        return render_template("_checkin.html", checkin=made)
    flash(t("checkin.done"), "ok")
    return redirect(url_for("members.status"))


@blueprint.route("/me/outflow", methods=["GET", "POST"])
@signed_in("member", "branch_secretary")
def outflow() -> Page:
    member_id = request.values.get("member_id") or user()["sub"]  # type: ignore[index]
    if request.method == "GET":
        return render_template("outflow.html", member_id=member_id)
    try:
        made = api().post(f"/api/v1/members/{member_id}/outflows", body_from(request.form, OUTFLOW_FIELDS))
    except ApiError as error:
        return failed(error, "outflow.html", member_id=member_id)
    flash(t("outflow.done") + str(made.get("activity_card_no", "")), "ok")
    return redirect(url_for("members.status") if user()["role"] == "member" else url_for("members.roster"))  # type: ignore[index]


@blueprint.route("/me/inflow", methods=["GET", "POST"])
@signed_in("member", "branch_secretary")
def inflow() -> Page:
    member_id = request.values.get("member_id") or user()["sub"]  # type: ignore[index]
    if request.method == "GET":
        return render_template("inflow.html", member_id=member_id)
    try:
        api().post(f"/api/v1/members/{member_id}/inflows", body_from(request.form, INFLOW_FIELDS))
    except ApiError as error:
        return failed(error, "inflow.html", member_id=member_id)
    flash(t("inflow.done"), "ok")
    return redirect(url_for("members.status") if user()["role"] == "member" else url_for("members.roster"))  # type: ignore[index]


@blueprint.get("/roster")
@signed_in(*STAFF)
def roster() -> Page:
    branch = request.args.get("branch") or user()["org"]  # type: ignore[index]
    query = {
        "branch": branch,
        "mobile": "true" if request.args.get("mobile") == "true" else None,
        "lost_contact": "true" if request.args.get("lost_contact") == "true" else None,
        "cursor": request.args.get("cursor"),
        "limit": 25,
    }
    try:
        page = api().get("/api/v1/members", query)
    except ApiError as error:
        return failed(error, "roster.html", members=[], branch=branch, next_cursor=None)
    return render_template(
        "roster.html", members=items_of(page), next_cursor=page.get("next_cursor"), branch=branch
    )


@blueprint.post("/roster/checkin")
@signed_in("branch_secretary", "township_officer")
def grid_checkin() -> Page:
    body = body_from(request.form, ("member_id", "note"))
    body.update({"kind": "grid_survey", "branch_code": request.form.get("branch_code") or user()["org"]})  # type: ignore[index]
    try:
        api().post("/api/v1/checkins", body)
    except ApiError as error:
        return failed(error, "roster.html", members=[], branch=body["branch_code"], next_cursor=None)
    flash(t("checkin.done"), "ok")
    return redirect(url_for("members.roster", branch=body["branch_code"]))


@blueprint.get("/ledger")
@signed_in(*STAFF)
def ledger() -> Page:
    return render_template("ledger.html", org=request.args.get("org") or user()["org"])  # type: ignore[index]


@blueprint.get("/ledger/export.<fmt>")
@signed_in(*STAFF)
def ledger_export(fmt: str) -> Page:
    """The API streams csv and builds xlsx; the console passes the file through as a download."""
    if fmt not in ("csv", "xlsx"):
        return render_template("error.html", message=t("error.404")), 404
    org = request.args.get("org") or user()["org"]  # type: ignore[index]
    chunks, content_type = api().stream("/api/v1/ledger", {"org": org, "format": fmt})
    return Response(
        chunks,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="ledger-{org}.{fmt}"'},
    )


def ledger_rows(org: str) -> list[dict[str, Any]]:
    """The ledger as rows: JSON when the API gives it, else its CSV read back."""
    data = api().get("/api/v1/ledger", {"org": org, "format": "json"})
    if isinstance(data, dict) and "items" in data:
        return items_of(data)
    if isinstance(data, list):
        return data
    chunks, _ = api().stream("/api/v1/ledger", {"org": org, "format": "csv"})
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))


@blueprint.post("/ledger/import")
@signed_in("branch_secretary", "township_officer", "org_department")
def ledger_import() -> Page:
    branch = (request.form.get("branch") or user()["org"]).strip()  # type: ignore[index]
    upload = request.files.get("file")
    if upload and upload.filename:
        content, filename = upload.read(), upload.filename
    else:
        # The confirm step sends the previewed file back, so people need not choose it twice.
        content = base64.b64decode(request.form.get("file_b64") or b"")
        filename = request.form.get("filename") or "members.csv"
    if not content:
        return render_template(
            "ledger.html", org=branch, field_errors={"file": t("error.422")}, form=request.form
        ), 422
    dry_run = request.form.get("dry_run") != "false"
    try:
        result = api().post(
            f"/api/v1/imports/members?branch={branch}&dry_run={'true' if dry_run else 'false'}",
            files={"file": (filename, content)},
        )
    except ApiError as error:
        row_errors = error.fields.get("file", [])
        return failed(error, "ledger.html", org=branch, row_errors=row_errors)
    return render_template(
        "ledger.html",
        org=branch,
        result=result,
        dry_run=dry_run,
        file_b64=base64.b64encode(content).decode() if dry_run else None,
        filename=filename,
    )


@blueprint.get("/dashboard")
@signed_in("org_department", "township_officer")
def dashboard() -> Page:
    org = request.args.get("org") or user()["org"]  # type: ignore[index]
    backend = api()
    stats = backend.get_or_none("/api/v1/stats/transfers", {"org": org}) or {}
    try:
        rows = ledger_rows(org)
    except ApiError:
        rows = []
    provinces = Counter(
        PROVINCES.get(str(row.get("destination_region") or "")[:2], "未知")
        for row in rows
        if row.get("destination_region") or row.get("mobile") in (True, "true", "True")
    )
    return render_template(
        "dashboard.html",
        org=org,
        stats=stats,
        provinces=sorted(provinces.items(), key=lambda pair: -pair[1]),
    )
