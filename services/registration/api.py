"""HTTP endpoints of the registration service: parse, call a use case, serialize. No rules here."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from flask import Response, jsonify, request, send_file
from flask.views import MethodView

from services.registration import commands, imports, queries, schemas, station_queries
from services.registration.commands.stations import RecordQrCheckin, record_qr_checkin
from services.registration.settings import RegistrationSettings
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared.auth import Principal
from shared.errors import InvalidInput
from shared.web import Blueprint, authenticated, context, error_body

orgs = Blueprint("orgs", __name__, url_prefix="/api/v1/orgs", description="The org tree")
members = Blueprint("members", __name__, url_prefix="/api/v1/members", description="Members")
checkins = Blueprint("checkins", __name__, url_prefix="/api/v1/checkins", description="Check-ins (报到)")
ledger = Blueprint(
    "ledger", __name__, url_prefix="/api/v1/ledger", description="The mobile-member ledger (台账)"
)
imports_blp = Blueprint(
    "imports", __name__, url_prefix="/api/v1/imports", description="Import of existing member ledgers"
)
ORG_READERS = ("branch_secretary", "township_officer", "org_department", "admin", "service")


def _uow() -> RegistrationUnitOfWork:
    return RegistrationUnitOfWork(context().database)


@orgs.route("")
class Orgs(MethodView):
    @authenticated()
    @orgs.arguments(schemas.OrgListQuery, location="query")
    @orgs.response(200, schemas.OrgPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """List orgs: the children of `parent`, or the subtree `under` an org, optionally of one level."""
        return queries.list_orgs(context().database, queries.OrgList(**query))

    @authenticated("admin", "org_department")
    @orgs.arguments(schemas.OrgCreateSchema)
    @orgs.response(201, schemas.OrgSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> Any:
        """Create an org below an existing parent."""
        return commands.create_org(_uow(), principal, commands.CreateOrg(**body))


@orgs.route("/route")
class OrgRoute(MethodView):
    @authenticated()
    @orgs.arguments(schemas.RouteQuery, location="query")
    @orgs.response(200, schemas.RouteSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The route class between two branches and each side's ancestors by level."""
        return queries.route_between(context().database, query["from_"], query["to"])


@orgs.route("/nearest")
class OrgNearest(MethodView):
    @authenticated()
    @orgs.arguments(schemas.NearestQuery, location="query")
    @orgs.response(200, schemas.NearestSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Any:
        """就近就便: branches nearest to a region code, by the longest shared prefix, and the
        stations there, or with `lat`/`lon` the stations nearest by great-circle distance."""
        return station_queries.nearest(context().database, **query)


@orgs.route("/<string:code>")
class OrgByCode(MethodView):
    @authenticated()
    @orgs.response(200, schemas.OrgSchema)
    def get(self, code: str, principal: Principal) -> Any:
        """One org with its path from the root."""
        return queries.get_org(context().database, code)


@members.route("")
class Members(MethodView):
    @authenticated(*ORG_READERS)
    @members.arguments(schemas.MemberListQuery, location="query")
    @members.response(200, schemas.MemberPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Members of a subtree (masked), newest last, with filters and keyset pagination."""
        return queries.list_members(context().database, principal, queries.MemberList(**query))

    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @members.arguments(schemas.MemberCreateSchema)
    @members.response(201, schemas.MemberSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> Any:
        """Register a member at a branch (the secretary of that branch or anyone above it)."""
        return commands.create_member(_uow(), principal, commands.CreateMember(**body))


@members.route("/<string:member_id>")
class MemberById(MethodView):
    @authenticated()
    @members.arguments(schemas.MemberReadQuery, location="query")
    @members.response(200, schemas.MemberSchema)
    def get(self, query: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """One member in full, for the member, their secretary and those above (audited);
        `masked=true` asks for the record with its ID and phone numbers masked (not audited)."""
        return queries.get_member(_uow(), principal, member_id, masked=query["masked"])


@checkins.route("")
class Checkins(MethodView):
    @authenticated()
    @checkins.arguments(schemas.CheckinListQuery, location="query")
    @checkins.response(200, schemas.CheckinPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Check-ins of a member, a branch, or the caller's subtree, optionally since a time."""
        return queries.list_checkins(context().database, principal, queries.CheckinList(**query))

    @authenticated("member", "branch_secretary", "township_officer", "admin", "service")
    @checkins.arguments(schemas.CheckinCreateSchema)
    @checkins.response(201, schemas.CheckinSchema)
    @checkins.alt_response(
        200, schema=schemas.CheckinSchema, description="the same station scanned again that day"
    )
    def post(self, body: dict[str, Any], principal: Principal) -> Any:
        """Record a check-in (报到): the member themself, or a grid survey by a secretary or officer;
        `kind: qr` with the `qr_token` scanned at a station (a second scan there the same day
        answers the first check-in with 200)."""
        settings = context().settings
        assert isinstance(settings, RegistrationSettings), "the registration app runs on its settings"
        days = settings.lost_contact_days
        if body["kind"] == "qr":
            scan = RecordQrCheckin(body["member_id"], body["qr_token"], lost_contact_days=days)
            result = record_qr_checkin(_uow(), principal, scan)
            return result.checkin, 201 if result.created else 200
        body.pop("qr_token")
        return commands.record_checkin(
            _uow(), principal, commands.RecordCheckin(**body, lost_contact_days=days)
        )


@members.route("/<string:member_id>/relationship")
class MemberRelationship(MethodView):
    @authenticated("service")
    @members.arguments(schemas.RelationshipMoveSchema)
    @members.response(200, schemas.MemberSchema)
    def post(self, body: dict[str, Any], member_id: str, principal: Principal) -> Any:
        """Move the member's relationship to another branch (the transfer service; idempotent by transfer_id)."""
        command = commands.MoveRelationship(member_id=member_id, **body)
        return commands.move_relationship(_uow(), principal, command)


@members.route("/<string:member_id>/outflows")
class MemberOutflows(MethodView):
    @authenticated("member", *ORG_READERS)
    @members.arguments(schemas.OutflowCreateSchema)
    @members.response(201, schemas.OutflowSchema)
    def post(self, body: dict[str, Any], member_id: str, principal: Principal) -> Any:
        """凡出必报: register an outflow and issue an activity card number."""
        command = commands.RegisterOutflow(member_id=member_id, **body)
        return commands.register_outflow(_uow(), principal, command)


@members.route("/<string:member_id>/inflows")
class MemberInflows(MethodView):
    @authenticated("member", *ORG_READERS)
    @members.arguments(schemas.InflowCreateSchema)
    @members.response(201, schemas.InflowSchema)
    def post(self, body: dict[str, Any], member_id: str, principal: Principal) -> Any:
        """凡进必登: register an arrival at the inflow branch, with a contact person."""
        command = commands.RegisterInflow(member_id=member_id, **body)
        return commands.register_inflow(_uow(), principal, command)


@members.route("/<string:member_id>/mobility")
class MemberMobility(MethodView):
    @authenticated()
    @members.response(200, schemas.MobilitySchema)
    def get(self, member_id: str, principal: Principal) -> Any:
        """The member's outflows and inflows, newest first."""
        return queries.mobility_history(context().database, principal, member_id)


def _ledger_text(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _batches(rows: Iterator[tuple[Any, ...]], size: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_stream(rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM so spreadsheet programs read the Chinese names as UTF-8
    writer.writerow(queries.LEDGER_COLUMNS)
    for batch in _batches(rows):
        writer.writerows([_ledger_text(value) for value in row] for row in batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _json_stream(org: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    yield '{"org": ' + json.dumps(org) + ', "items": ['
    separator = ""
    for batch in _batches(rows):
        yield separator + ",".join(
            json.dumps(
                dict(zip(queries.LEDGER_COLUMNS, row, strict=True)), default=_ledger_text, ensure_ascii=False
            )
            for row in batch
        )
        separator = ","
    yield "]}"


def _xlsx_file(rows: Iterator[tuple[Any, ...]]) -> Any:
    from openpyxl import Workbook

    # write_only keeps openpyxl's memory flat; the workbook goes to a temporary file, not RAM.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("ledger")
    sheet.append(list(queries.LEDGER_COLUMNS))
    for row in rows:
        sheet.append([_ledger_text(value) for value in row])
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it after the response)
    workbook.save(spool)
    spool.seek(0)
    return spool


@ledger.route("")
class Ledger(MethodView):
    @authenticated(*ORG_READERS)
    @ledger.arguments(schemas.LedgerQuery, location="query")
    @ledger.response(200, description="csv, json or xlsx, streamed")
    def get(self, query: dict[str, Any], principal: Principal) -> Response:
        """The mobile-member ledger (台账) of a subtree with the six facts, streamed."""
        path = commands.open_ledger(_uow(), principal, commands.OpenLedger(query["org"]))
        rows = queries.ledger_rows(context().database, path)
        filename = f"ledger-{query['org']}"
        if query["format"] == "json":
            return Response(_json_stream(query["org"], rows), mimetype="application/json")
        if query["format"] == "xlsx":
            return send_file(
                _xlsx_file(rows),
                mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                as_attachment=True,
                download_name=f"{filename}.xlsx",
            )
        return Response(
            _csv_stream(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )


@imports_blp.route("/members")
class MemberImports(MethodView):
    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @imports_blp.arguments(schemas.ImportQuery, location="query")
    @imports_blp.response(200, schemas.ImportResultSchema, description="a dry run")
    @imports_blp.alt_response(201, schema=schemas.ImportResultSchema, description="imported")
    def post(self, query: dict[str, Any], principal: Principal) -> Any:
        """Import members from an xlsx or csv file (multipart `file`); all or nothing, or a dry run."""
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput(
                "send the spreadsheet as a multipart field named file", field="file", location="files"
            )
        parsed = imports.parse_members(upload.read(), upload.filename or "", query["branch"])
        command = commands.ImportMembers(
            query["branch"], parsed.rows, parsed.valid, parsed.errors, query["dry_run"]
        )
        try:
            result = commands.import_members(_uow(), principal, command)
        except commands.ImportRejected as rejected:
            return jsonify(error_body(422, rejected.message, {"file": rejected.rows})), 422
        return result, 200 if query["dry_run"] else 201
