"""Transfers: the member applies and follows the timeline; each stage holder decides in an inbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from services.console.backend import ApiError, api_path, items_of
from services.console.errors import plain_error
from services.console.web import Page, api, body_from, failed, signed_in, t, user

blueprint = Blueprint("transfers", __name__)

BOXES = ("todo", "pending", "done")
# A stage holder also sees what will reach its stage later (即将办理).
INBOX_BOXES = ("todo", "coming", "pending", "done")
STAGE_HOLDERS = ("branch_secretary", "township_officer", "org_department")


@blueprint.get("/transfers")
@signed_in("member")
def mine() -> Page:
    # For a member the boxes hold only their own transfers: todo is what waits on them (a return
    # to resubmit, a letter to report in with), pending is in the hands of others.
    box = request.args.get("box") if request.args.get("box") in BOXES else "pending"
    page = api().get("/api/v1/transfers", {"box": box, "cursor": request.args.get("cursor"), "limit": 20})
    return render_template(
        "transfers_mine.html",
        box=box,
        boxes=BOXES,
        transfers=items_of(page),
        next_cursor=page.get("next_cursor"),
    )


@blueprint.route("/transfers/new", methods=["GET", "POST"])
@signed_in("member", "branch_secretary")
def apply() -> Page:
    current = user()
    assert current is not None
    if request.method == "GET":
        # A branch picked from the nearby list comes back as ?to_branch_code=...
        return render_template("transfer_new.html", form=request.args)
    body = body_from(request.form, ("member_id", "to_branch_code", "reason"))
    if current["role"] == "member":
        body["member_id"] = current["sub"]
    if "to_branch_code" in body:
        body["to_branch_code"] = body["to_branch_code"].upper()
    try:
        made = api().post("/api/v1/transfers", body)
    except ApiError as error:
        return failed(error, "transfer_new.html")
    return redirect(url_for("transfers.detail", transfer_id=made["id"]))


def inbox_query() -> dict[str, Any]:
    """The inbox's filters from the query string (the inbox and its export read the same list)."""
    box = request.args.get("box") if request.args.get("box") in INBOX_BOXES else "todo"
    # The dashboard counts a whole subtree; its figures open the inbox over the same subtree.
    subtree = request.args.get("scope") == "subtree"
    return {
        "box": box,
        "status": request.args.get("status"),
        "scope": "subtree" if subtree else None,
        "org": request.args.get("org") if subtree else None,
    }


@blueprint.get("/inbox")
@signed_in(*STAGE_HOLDERS)
def inbox() -> Page:
    query = inbox_query()
    box = query["box"]
    page = api().get("/api/v1/transfers", {**query, "cursor": request.args.get("cursor"), "limit": 20})
    return render_template(
        "inbox.html",
        box=box,
        boxes=INBOX_BOXES,
        tab_scope={"scope": "subtree", "org": query["org"]} if query["scope"] else {},
        transfers=items_of(page),
        next_cursor=page.get("next_cursor"),
    )


@blueprint.get("/transfers/<transfer_id>")
@signed_in()
def detail(transfer_id: str) -> Page:
    transfer = api().get(api_path("/api/v1/transfers/{}", transfer_id))
    return render_template("transfer.html", transfer=transfer)


@blueprint.post("/transfers/<transfer_id>/decisions")
@signed_in(*STAGE_HOLDERS)
def decide(transfer_id: str) -> Page:
    backend = api()
    body = body_from(request.form, ("decision", "reason"))
    try:
        backend.post(api_path("/api/v1/transfers/{}/decisions", transfer_id), body)
    except ApiError as error:
        return failed(error, "transfer.html", transfer=backend.get(api_path("/api/v1/transfers/{}", transfer_id)))
    flash(t(f"done.transfer.{body.get('decision', 'approve')}"), "ok")
    return redirect(url_for("transfers.detail", transfer_id=transfer_id))


@blueprint.post("/transfers/<transfer_id>/<action>")
@signed_in()
def act(transfer_id: str, action: str) -> Page:
    """report, resubmit, cancel, reissue and urge: who may is the API's answer (allowed_actions)."""
    if action not in ("report", "resubmit", "cancel", "reissue", "urge"):
        return render_template("error.html", message=t("error.404")), 404
    backend = api()
    body = body_from(request.form, ("note",) if action == "urge" else ("reason", "to_branch_code"))
    try:
        backend.post(api_path("/api/v1/transfers/{}/{}", transfer_id, action), body)
    except ApiError as error:
        return failed(error, "transfer.html", transfer=backend.get(api_path("/api/v1/transfers/{}", transfer_id)))
    flash(t(f"done.transfer.{action}"), "ok")
    return redirect(url_for("transfers.detail", transfer_id=transfer_id))


@blueprint.get("/branches/nearest")
@signed_in()
def nearest_branches() -> Page:
    """就近就便: branches near a region code, so nobody has to know a branch's code by heart."""
    region = (request.args.get("region") or "").strip()
    try:
        found = api().get("/api/v1/orgs/nearest", {"region": region, "limit": 8})
    except ApiError as error:
        message, fields = plain_error(error)
        return render_template("_nearest.html", branches=[], problem=fields.get("region") or message)
    return render_template("_nearest.html", branches=items_of(found))
