"""Members' own pages (status, check-in, outflow, inflow) and the branch's roster and ledger."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for

from services.console import dashboards, directory
from services.console.backend import ApiError, api_path, items_of
from services.console.errors import plain_error
from services.console.regions import region_name
from services.console.web import Page, api, body_from, failed, settings, signed_in, t, user

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
CHINA = timezone(timedelta(hours=8))

@blueprint.get("/me")
@signed_in("member")
def status() -> Page:
    backend = api()
    member = backend.get(api_path("/api/v1/members/{}", user()["sub"]))  # type: ignore[index]
    checkins = backend.get_or_none("/api/v1/checkins", {"member_id": member["id"], "limit": 5})
    dues = backend.get_or_none(api_path("/api/v1/members/{}/dues", member["id"]), {"limit": 5})
    away = member.get("open_outflow")
    province = region_name(away.get("destination_region")) if away else ""
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
        made = api().post(api_path("/api/v1/members/{}/outflows", member_id), body_from(request.form, OUTFLOW_FIELDS))
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
        api().post(api_path("/api/v1/members/{}/inflows", member_id), body_from(request.form, INFLOW_FIELDS))
    except ApiError as error:
        return failed(error, "inflow.html", member_id=member_id)
    flash(t("inflow.done"), "ok")
    return redirect(url_for("members.status") if user()["role"] == "member" else url_for("members.roster"))  # type: ignore[index]


ROSTER_FILTERS = ("mobile", "lost_contact", "dues_behind")
ROSTER_PAGE = 25


@blueprint.get("/roster")
@signed_in(*STAFF)
def roster() -> Page:
    """The members of a branch (or of every branch under an org, with a branch column), masked.

    A search the API refuses (an older registration without `q`) or any other refusal is shown
    above the table, which keeps what could be read: never an empty "暂无记录" for a failure."""
    branch, text, filters = roster_filters()
    query: dict[str, Any] = {"cursor": request.args.get("cursor"), "limit": ROSTER_PAGE, **filters}
    backend = api()
    problem = None
    try:
        page = backend.get("/api/v1/members", {**query, "q": text or None})
    except ApiError as error:
        if error.status == 401:
            raise
        problem, _ = plain_error(error)
        if text and error.status == 422:
            problem = t("roster.search_unavailable")
        try:
            page = backend.get("/api/v1/members", {**query, "cursor": None})
        except ApiError:
            page = None
    members = items_of(page)
    return render_template(
        "roster.html",
        members=members,
        next_cursor=(page or {}).get("next_cursor"),
        total=(page or {}).get("total"),
        branch=branch,
        q=text,
        error_message=problem,
        failed_to_read=page is None,
        show_branch=any(member.get("branch_code") != branch for member in members) or user_above_branch(),
        trail=request.args.getlist("back"),
    ), (200 if page is not None else 503)


def roster_filters() -> tuple[str, str, dict[str, Any]]:
    """The roster's org, search text and the member list's filters, from the page's query string
    (the page and its export read the same members)."""
    branch = request.args.get("branch") or user()["org"]  # type: ignore[index]
    text = (request.args.get("q") or "").strip()
    filters = {"branch": branch, **{name: "true" for name in ROSTER_FILTERS if request.args.get(name) == "true"}}
    return branch, text, filters


def user_above_branch() -> bool:
    current = user()
    return bool(current) and current["role"] in ("township_officer", "org_department", "admin")  # type: ignore[index]


@blueprint.post("/roster/checkin")
@signed_in("branch_secretary", "township_officer")
def grid_checkin() -> Page:
    body = body_from(request.form, ("member_id", "note"))
    body.update({"kind": "grid_survey", "branch_code": request.form.get("branch_code") or user()["org"]})  # type: ignore[index]
    try:
        api().post("/api/v1/checkins", body)
    except ApiError as error:
        # The roster stays whole under the complaint: the list is read again, not emptied.
        try:
            page = api().get("/api/v1/members", {"branch": body["branch_code"], "limit": ROSTER_PAGE})
        except ApiError:
            page = None
        return failed(
            error, "roster.html", members=items_of(page), branch=body["branch_code"],
            next_cursor=(page or {}).get("next_cursor"), total=None, q="", failed_to_read=page is None,
            show_branch=user_above_branch(), trail=[],
        )  # fmt: skip
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
            "/api/v1/imports/members",
            params={"branch": branch, "dry_run": "true" if dry_run else "false"},
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
@signed_in(*STAFF)
def dashboard() -> Page:
    """Each desk's figures from the APIs' stats endpoints only, every one a link to its list:
    never the whole ledger (which is audited as an export each time it is read)."""
    current = user()
    assert current is not None
    org = request.args.get("org") or current["org"]
    board = dashboards.build(api(), current["role"], org, directory.org_name(settings(), org))
    return render_template("dashboard.html", org_code=org, board=board, month=board.month)


PICKER_LIMIT = 20


@blueprint.get("/pick/members")
@signed_in(*STAFF)
def search() -> Page:
    """Members by name within the caller's scope, for the member picker (JSON for Tom Select).

    `GET /members?q=` is the ledger's search; where registration does not take `q` yet (422), the
    caller's own branch is read, masked, and filtered here, so the picker still finds people."""
    text = (request.args.get("q") or "").strip()
    if not text:
        return jsonify(items=[])
    backend = api()
    try:
        found = items_of(backend.get("/api/v1/members", {"q": text, "limit": PICKER_LIMIT}))
    except ApiError as error:
        if error.status != 422:
            return jsonify(items=[], problem=plain_error(error)[0])
        page = backend.get("/api/v1/members", {"branch": user()["org"], "limit": 100})  # type: ignore[index]
        found = [member for member in items_of(page) if text in str(member.get("name", ""))][:PICKER_LIMIT]
    return jsonify(items=[_member_choice(member) for member in found])


def _member_choice(member: dict[str, Any]) -> dict[str, str]:
    """What tells two 王芳 apart without an id: the branch and the birth year."""
    details = [directory.org_name(settings(), member.get("branch_code")), str(member.get("birth_date") or "")[:4]]
    return {"value": str(member["id"]), "text": f"{member.get('name', '')}（{' · '.join(d for d in details if d)}）"}


@blueprint.get("/pick/branches")
@signed_in()
def branch_search() -> Page:
    """Branches by name for the branch picker: the directory's search when registration offers one,
    else the branches of the caller's county filtered here (others are found by region)."""
    text = (request.args.get("q") or "").strip()
    if not text:
        return jsonify(items=[])
    backend = api()
    try:
        found = items_of(backend.get("/api/v1/orgs", {"q": text, "level": "branch", "limit": PICKER_LIMIT}))
    except ApiError as error:
        if error.status != 422:
            return jsonify(items=[])
        found = _branches_named(backend, text)
    return jsonify(items=[{"value": org["code"], "text": org["name"]} for org in found[:PICKER_LIMIT]])


def _branches_named(backend: Any, text: str) -> list[dict[str, Any]]:
    own = backend.get_or_none(api_path("/api/v1/orgs/{}", user()["org"])) or {}  # type: ignore[index]
    path = own.get("path") or [user()["org"]]  # type: ignore[index]
    county = path[3] if len(path) > 3 else path[-1]  # CN / province / city / county
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):  # a county has a few hundred branches at most; bounded all the same
        page = backend.get("/api/v1/orgs", {"under": county, "level": "branch", "limit": 100, "cursor": cursor})
        found += [org for org in items_of(page) if text in str(org.get("name", ""))]
        cursor = page.get("next_cursor")
        if not cursor or len(found) >= PICKER_LIMIT:
            break
    return found


CONTACT_METHODS = ("phone", "visit", "relative", "online", "letter", "other")


@blueprint.get("/members/<member_id>")
@signed_in(*STAFF)
def member(member_id: str) -> Page:
    """One member for the secretary: particulars (masked: the page is read often; a full read is
    audited), the six facts, the open outflow, dues with a record-payment form, check-ins and
    contact attempts. Panels whose endpoint registration does not serve yet stay empty."""
    return member_page(member_id)


# The decisions of the lost-contact course an org department may take from each standing
# (registration refuses any other with 409; no decision follows removal).
STANDING_CHOICES = {"normal": ("suspended", "removed"), "suspended": ("restored", "removed"), "removed": ()}


def member_page(member_id: str, status: int = 200, **extra: Any) -> Page:
    """The member page; a refused form on it comes back with its complaint (`extra`)."""
    backend = api()
    record = backend.get(api_path("/api/v1/members/{}", member_id), {"masked": "true"})
    return render_template(
        "member.html",
        member=record,
        dues=items_of(backend.get_or_none(api_path("/api/v1/members/{}/dues", member_id))),
        attempts=items_of(backend.get_or_none(api_path("/api/v1/members/{}/contact-attempts", member_id))),
        checkins=items_of(backend.get_or_none("/api/v1/checkins", {"member_id": member_id, "limit": 10})),
        methods=CONTACT_METHODS,
        month=datetime.now(CHINA).strftime("%Y-%m"),
        today=datetime.now(CHINA).date().isoformat(),
        standing_choices=STANDING_CHOICES.get(str(record.get("standing") or "normal"), ()),
        **extra,
    ), status


@blueprint.post("/members/<member_id>/dues")
@signed_in(*STAFF)
def record_dues(member_id: str) -> Page:
    return _member_write(member_id, "/api/v1/members/{}/dues", ("paid_through", "amount", "paid_on"), "done.dues")


@blueprint.post("/members/<member_id>/contact-attempts")
@signed_in(*STAFF)
def record_contact(member_id: str) -> Page:
    return _member_write(member_id, "/api/v1/members/{}/contact-attempts", ("method", "result", "note"), "done.contact")


def _member_write(member_id: str, template: str, fields: tuple[str, ...], done: str) -> Page:
    backend = api()
    try:
        backend.post(api_path(template, member_id), body_from(request.form, fields))
    except ApiError as error:
        if error.status in (404, 405) and not error.fields:
            flash(t("common.unavailable"), "error")
            return redirect(url_for("members.member", member_id=member_id))
        if error.status == 401:
            raise
        message, field_errors = plain_error(error)
        return member_page(member_id, error.status, error_message=message, field_errors=field_errors, form=request.form)
    flash(t(done), "ok")
    return redirect(url_for("members.member", member_id=member_id))


MEMBER_FIELDS = ("name", "gender", "birth_date", "id_number", "phone", "status", "branch_code", "joined_on", "dues_paid_through")
EDITABLE = ("name", "gender", "birth_date", "phone", "status")
SIX_FACTS = ("occupation", "employer", "current_address", "contact_phone")


@blueprint.route("/members/new", methods=["GET", "POST"])
@signed_in(*STAFF)
def add_member() -> Page:
    current = user()
    assert current is not None
    defaults = {"branch_code": current["org"] if current["role"] == "branch_secretary" else "", "status": "full"}
    if request.method == "GET":
        return render_template("member_form.html", form=defaults, editing=False)
    try:
        made = api().post("/api/v1/members", body_from(request.form, MEMBER_FIELDS))
    except ApiError as error:
        return failed(error, "member_form.html", editing=False)
    flash(t("done.member_added"), "ok")
    return redirect(url_for("members.member", member_id=made["id"]))


@blueprint.route("/members/<member_id>/edit", methods=["GET", "POST"])
@signed_in(*STAFF)
def edit_member(member_id: str) -> Page:
    """Edit with If-Match: the ETag read with the form goes back with the change, so a change
    someone else saved meanwhile is not overwritten (412: the form is shown again, fresh)."""
    backend = api()
    path = api_path("/api/v1/members/{}", member_id)
    if request.method == "GET":
        record, etag = backend.get_with_etag(path)
        return render_template("member_form.html", form=_form_of(record), editing=True, member=record, etag=etag)
    body: dict[str, Any] = body_from(request.form, EDITABLE)
    facts = body_from(request.form, SIX_FACTS)
    if facts:
        body["six_facts"] = facts
    try:
        backend.patch(path, body, request.form.get("etag"))
    except ApiError as error:
        if error.status in (404, 405) and not error.fields:
            flash(t("common.unavailable"), "error")
            return redirect(url_for("members.member", member_id=member_id))
        record, etag = backend.get_with_etag(path)
        if error.status == 412:  # someone saved first: show what is there now
            return failed(error, "member_form.html", editing=True, member=record, etag=etag, form=_form_of(record))
        return failed(error, "member_form.html", editing=True, member=record, etag=request.form.get("etag"))
    flash(t("done.member_saved"), "ok")
    return redirect(url_for("members.member", member_id=member_id))


def _form_of(record: dict[str, Any]) -> dict[str, Any]:
    facts = record.get("six_facts") or {}
    return {**{name: record.get(name) or "" for name in MEMBER_FIELDS}, **{name: facts.get(name) or "" for name in SIX_FACTS}}
