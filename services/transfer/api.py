"""HTTP endpoints of the transfer service: parse, build a command, call a use case, serialize.
No rules here."""

from __future__ import annotations

import contextvars
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Response, current_app, jsonify
from flask.views import MethodView
from marshmallow import RAISE

from services.transfer import commands, queries, schemas
from services.transfer.unit_of_work import TransferDeps
from shared.auth import Principal
from shared.web import Blueprint, authenticated, context
from shared.web.idempotency import item_runner, release_request_key

transfers = Blueprint(
    "transfers", __name__, url_prefix="/api/v1/transfers", description="Transfers (组织关系转接)"
)
stats = Blueprint("transfer_stats", __name__, url_prefix="/api/v1/stats", description="Transfer counts")

ORG_ROLES = ("branch_secretary", "township_officer", "org_department", "admin")


def deps() -> TransferDeps:
    return context().extras["transfer"]


def answered(transfer_id: str) -> dict[str, Any]:
    """The transfer as the use case left it."""
    return queries.full_view(deps().database, transfer_id)


@transfers.route("")
class Transfers(MethodView):
    @authenticated("member", "branch_secretary", "township_officer", "org_department", "admin")
    @transfers.arguments(schemas.TransferCreateSchema)
    @transfers.response(201, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Apply to move a member's relationship (the member, or the sending branch's secretary)."""
        command = commands.Apply(body["member_id"], body["to_branch_code"], body["reason"])
        return answered(commands.apply(deps().uow(), principal, command))

    @authenticated("member", *ORG_ROLES)
    @transfers.arguments(schemas.TransferListQuery, location="query", unknown=RAISE)
    @transfers.response(200, schemas.TransferPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The caller's org's boxes: `todo` (waiting on it), `pending` (its step done, not finished),
        `coming` (its stage is ahead), `done`; `scope=subtree` reads them for the whole subtree."""
        listing = queries.ListQuery(
            box=query["box"],
            limit=query["limit"],
            org=query.get("org"),
            scope=query.get("scope") or "org",
            status=query.get("status"),
            cursor=query.get("cursor"),
        )
        return queries.list_transfers(deps().database, deps().registration.orgs, principal, listing)


@transfers.route("/<string:transfer_id>")
class TransferById(MethodView):
    @authenticated()
    @transfers.response(200, schemas.TransferSchema)
    def get(self, transfer_id: str, principal: Principal) -> dict[str, Any]:
        """One transfer with its current stage, timeline and letter; the member's summary for
        the approver, and `allowed_actions`: what the caller may do now."""
        return queries.get(deps().database, principal, transfer_id, deps().registration)


@transfers.route("/decisions")
class BatchDecisions(MethodView):
    @authenticated(*ORG_ROLES)
    @transfers.arguments(schemas.BatchDecisionSchema)
    @transfers.response(200, schemas.BatchResultsSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> Response:
        """Decide 1–100 transfers: each item exactly as POST /transfers/{id}/decisions would
        (same authorization, validators and Idempotency-Key safety), each with its own status."""
        app, transfer_deps, run_once = current_app._get_current_object(), deps(), item_runner()  # type: ignore[attr-defined]

        def decide(index: int, item: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            command = commands.Decide(item["transfer_id"], item["decision"], item.get("reason"))

            def run() -> tuple[int, bytes]:
                outcome = commands.decide_item(transfer_deps.uow(), principal, command)
                result: dict[str, Any] = {"transfer_id": command.transfer_id, "status": outcome.status}
                if outcome.error is None:
                    view = queries.full_view(transfer_deps.database, command.transfer_id)
                    result["transfer"] = schemas.TransferSchema().dump(view)
                else:
                    result["error"] = outcome.error
                return outcome.status, json.dumps(result, ensure_ascii=False).encode()

            with app.app_context():  # a thread of its own: the letter's URL reads the app's deps
                fingerprint = json.dumps(item, sort_keys=True).encode()
                status, answer = run_once(f"{index}:{command.transfer_id}", fingerprint, run)
            return status, json.loads(answer)

        # Items run a few at a time, each in a copy of this request's context (its request id
        # goes into each item's audit entry); each waits on its own workflow update.
        items = list(enumerate(body["items"]))
        contexts = [contextvars.copy_context() for _ in items]
        with ThreadPoolExecutor(max_workers=commands.BATCH_PARALLELISM) as pool:
            answers = list(
                pool.map(lambda pair: pair[0].run(decide, *pair[1]), zip(contexts, items, strict=True))
            )
        if any(status >= 500 for status, _ in answers):
            release_request_key()  # a retry runs again; the items done replay their outcome
        return jsonify({"results": [result for _, result in answers]})


@transfers.route("/<string:transfer_id>/decisions")
class Decisions(MethodView):
    @authenticated(*ORG_ROLES)
    @transfers.arguments(schemas.DecisionSchema)
    @transfers.response(200, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal, transfer_id: str) -> dict[str, Any]:
        """Approve, reject or return at the current stage (its holder, an admin, or an org
        department above an overdue stage, with a reason: 代办)."""
        command = commands.Decide(transfer_id, body["decision"], body.get("reason"))
        return answered(commands.decide(deps().uow(), principal, command))


@transfers.route("/<string:transfer_id>/resubmit")
class Resubmit(MethodView):
    @authenticated("member", "branch_secretary")
    @transfers.arguments(schemas.ResubmitSchema)
    @transfers.response(200, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal, transfer_id: str) -> dict[str, Any]:
        """Resubmit a returned transfer, optionally to another receiving branch."""
        command = commands.Resubmit(transfer_id, body.get("to_branch_code"), body.get("reason"))
        return answered(commands.resubmit(deps().uow(), principal, command))


@transfers.route("/<string:transfer_id>/cancel")
class Cancel(MethodView):
    @authenticated("member", "branch_secretary", "admin")
    @transfers.arguments(schemas.CancelSchema)
    @transfers.response(200, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal, transfer_id: str) -> dict[str, Any]:
        """Withdraw the transfer before completion (本人撤回)."""
        command = commands.Cancel(transfer_id, body["reason"])
        return answered(commands.cancel(deps().uow(), principal, command))


@transfers.route("/<string:transfer_id>/report")
class Report(MethodView):
    @authenticated("member", "branch_secretary", "admin")
    @transfers.arguments(schemas.ReportSchema)
    @transfers.response(200, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal, transfer_id: str) -> dict[str, Any]:
        """The member reported in at the receiving branch; answers once the relationship moved."""
        return answered(commands.report(deps().uow(), principal, commands.Report(transfer_id)))


@transfers.route("/<string:transfer_id>/reissue")
class Reissue(MethodView):
    @authenticated("branch_secretary", "admin")
    @transfers.arguments(schemas.ReissueSchema)
    @transfers.response(200, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal, transfer_id: str) -> dict[str, Any]:
        """Re-issue the letter of an expired transfer (the sending branch's secretary, or an admin):
        a new serial and validity, no approvals; the member reports in with it as usual."""
        command = commands.ReissueLetter(transfer_id, body.get("reason"))
        return answered(commands.reissue(deps().uow(), principal, command))


@transfers.route("/<string:transfer_id>/urge")
class UrgeStage(MethodView):
    @authenticated("member", "branch_secretary", "township_officer", "org_department")
    @transfers.arguments(schemas.UrgeSchema)
    @transfers.response(200, schemas.TransferSchema)
    def post(self, body: dict[str, Any], principal: Principal, transfer_id: str) -> dict[str, Any]:
        """Urge the open stage (催办): the applicant, the sending secretary, or staff of an org above
        the stage's org; once a day per caller and stage (429 with Retry-After)."""
        command = commands.Urge(transfer_id, body.get("note"))
        return answered(commands.urge(deps().uow(), principal, command))


@stats.route("/transfers")
class TransferStats(MethodView):
    @authenticated(*ORG_ROLES)
    @stats.arguments(schemas.StatsQuery, location="query", unknown=RAISE)
    @stats.response(200, schemas.TransferStatsSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, int]:
        """Counts over an org's subtree: to do, overdue, in and out this year, pending, coming."""
        return queries.stats(deps().database, deps().registration.orgs, principal, query.get("org"))
