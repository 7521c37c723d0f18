"""HTTP endpoints of the registration service: parse, call a use case, serialize. No rules here."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from flask import Response, jsonify, request, send_file
from flask.views import MethodView
from marshmallow import RAISE

from services.registration import (
    commands,
    import_template,
    imports,
    ledger_export,
    queries,
    schemas,
    station_queries,
)
from services.registration.commands.stations import RecordQrCheckin, record_qr_checkin
from services.registration.domain import ORG_CODE
from services.registration.settings import RegistrationSettings
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared.auth import Principal
from shared.errors import InvalidInput
from shared.text import ID_PATTERN
from shared.web import Blueprint, authenticated, context, error_body
from shared.web.limits import limiter
from shared.web.paths import check_path_values

orgs = Blueprint("orgs", __name__, url_prefix="/api/v1/orgs", description="The org tree")
members = Blueprint("members", __name__, url_prefix="/api/v1/members", description="Members")
checkins = Blueprint("checkins", __name__, url_prefix="/api/v1/checkins", description="Check-ins (报到)")
ledger = Blueprint(
    "ledger", __name__, url_prefix="/api/v1/ledger", description="The mobile-member ledger (台账)"
)
imports_blp = Blueprint(
    "imports", __name__, url_prefix="/api/v1/imports", description="Import of existing member ledgers"
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Room for the multipart boundaries and headers around a file of imports.MAX_UPLOAD_BYTES.
MULTIPART_OVERHEAD = 64 * 1024
# Ids in paths are checked before any view: a malformed one is a 422, never a lookup or a URL.
check_path_values(orgs, {"code": ORG_CODE})
check_path_values(members, {"member_id": ID_PATTERN})

# Rate limits per caller (security review 12): answers that reveal a registered ID, and imports.
DUPLICATE_ANSWERS = "10/minute;100/day"
IMPORTS = "30/minute;500/day"
ORG_READERS = ("branch_secretary", "township_officer", "org_department", "admin", "service")


def _uow() -> RegistrationUnitOfWork:
    settings = context().settings
    assert isinstance(settings, RegistrationSettings), "the registration app runs on its settings"
    return RegistrationUnitOfWork(context().database, settings.id_hash_key)


@orgs.route("")
class Orgs(MethodView):
    @authenticated()
    @orgs.arguments(schemas.OrgListQuery, location="query", unknown=RAISE)
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
    @orgs.arguments(schemas.RouteQuery, location="query", unknown=RAISE)
    @orgs.response(200, schemas.RouteSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The route class between two branches and each side's ancestors by level."""
        return queries.route_between(context().database, query["from_"], query["to"])


@orgs.route("/nearest")
class OrgNearest(MethodView):
    @authenticated()
    @orgs.arguments(schemas.NearestQuery, location="query", unknown=RAISE)
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
    # Each 409 "already registered" tells whether a national ID is a member's: few per caller.
    decorators = [
        limiter.limit(
            DUPLICATE_ANSWERS, methods=["POST"], deduct_when=lambda response: response.status_code == 409
        )
    ]

    @authenticated(*ORG_READERS)
    @members.arguments(schemas.MemberListQuery, location="query", unknown=RAISE)
    @members.response(200, schemas.MemberPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Members of a subtree (masked), newest last, with filters and keyset pagination."""
        return queries.list_members(_uow(), principal, queries.MemberList(**query))

    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @members.arguments(schemas.MemberCreateSchema)
    @members.response(201, schemas.MemberSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> Any:
        """Register a member at a branch (the secretary of that branch or anyone above it)."""
        return commands.create_member(_uow(), principal, commands.CreateMember(**body))


@members.route("/<string:member_id>")
class MemberById(MethodView):
    @authenticated()
    @members.arguments(schemas.MemberReadQuery, location="query", unknown=RAISE)
    @members.response(200, schemas.MemberSchema)
    def get(self, query: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """One member in full, for the member, their secretary and those above, and those over the
        branch of an open inflow (audited); `masked=true` asks for the record with its ID and
        phone numbers masked (not audited). The `ETag` header is what PATCH needs in `If-Match`."""
        record = queries.get_member(_uow(), principal, member_id, masked=query["masked"])
        return record, 200, {"ETag": record.etag}

    @authenticated("member", "branch_secretary", "township_officer", "org_department", "admin")
    @members.arguments(schemas.MemberPatchSchema)
    @members.response(200, schemas.MemberSchema)
    @members.alt_response(412, description="If-Match names a version that is no longer current")
    @members.alt_response(428, description="If-Match is missing")
    @members.doc(
        parameters=[
            {
                "in": "header",
                "name": "If-Match",
                "required": True,
                "schema": {"type": "string"},
                "description": "the ETag of the member as read (GET /members/{id})",
            }
        ]
    )
    def patch(self, body: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """Edit a member record with `If-Match: <ETag>`: a secretary of the member's branch or above
        (name, gender, birth_date, phone, status, six facts), or the member (phone and current
        facts). A stale ETag never overwrites (412)."""
        facts = body.pop("six_facts", None) or {}
        changes = {**body, **{f"six_facts.{name}": value for name, value in facts.items()}}
        command = commands.UpdateMember(member_id, request.headers.get("If-Match"), changes)
        record = commands.update_member(_uow(), principal, command)
        return record, 200, {"ETag": record.etag}


@members.route("/<string:member_id>/dues")
class MemberDues(MethodView):
    @authenticated()
    @members.arguments(schemas.DuesListQuery, location="query", unknown=RAISE)
    @members.response(200, schemas.DuesPageSchema)
    def get(self, query: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """The member's dues payments, newest first (for whoever may read the member)."""
        return queries.list_dues(context().database, principal, member_id, queries.DuesList(**query))

    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @members.arguments(schemas.DuesCreateSchema)
    @members.response(201, schemas.DuesSchema)
    def post(self, body: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """Record a dues payment (党费): the member's dues_paid_through becomes `paid_through`."""
        return commands.record_dues(_uow(), principal, commands.RecordDues(member_id=member_id, **body))


@members.route("/<string:member_id>/returns")
class MemberReturns(MethodView):
    @authenticated("member", "branch_secretary", "township_officer", "org_department", "admin")
    @members.arguments(schemas.ReturnCreateSchema)
    @members.response(201, schemas.ReturnSchema)
    def post(self, body: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """The member is back: the open outflow closes (an open inflow ends), `mobile` becomes false."""
        return commands.record_return(_uow(), principal, commands.RecordReturn(member_id=member_id, **body))


@checkins.route("")
class Checkins(MethodView):
    @authenticated()
    @checkins.arguments(schemas.CheckinListQuery, location="query", unknown=RAISE)
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
    @members.arguments(schemas.MemberReadQuery, location="query", unknown=RAISE)
    @members.response(200, schemas.MobilitySchema)
    def get(self, query: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """The member's outflows and inflows, newest first; the contact phone in full (audited),
        or masked with `masked=true` (not audited)."""
        return queries.mobility_history(_uow(), principal, member_id, masked=query["masked"])


@ledger.route("")
class Ledger(MethodView):
    @authenticated(*ORG_READERS)
    @ledger.arguments(schemas.LedgerQuery, location="query", unknown=RAISE)
    @ledger.response(200, description="csv, json or xlsx, streamed")
    def get(self, query: dict[str, Any], principal: Principal) -> Response:
        """The mobile-member ledger (台账) of a subtree with the six facts, streamed: json for
        programs; csv and xlsx for people, in Chinese, and importable back with masked=false.
        `side=outflow` (default): the subtree's members who are away; `side=inflow`: the members
        with an open inflow at a branch of the subtree (双向管理)."""
        command = commands.OpenLedger(query["org"], masked=query["masked"], side=query["side"])
        scope = commands.open_ledger(_uow(), principal, command)
        database = context().database
        rows = ledger_export.ledger_rows(database, scope.path, masked=scope.masked, side=query["side"])
        filename = f"ledger-{query['org']}"
        if query["format"] == "json":
            return Response(ledger_export.json_stream(query["org"], rows), mimetype="application/json")
        if query["format"] == "xlsx":
            size = ledger_export.ledger_size(database, scope.path, query["side"])
            return Response(
                ledger_export.xlsx_stream(scope.org_name, rows, size),
                mimetype=XLSX,
                headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
            )
        return Response(
            ledger_export.csv_stream(scope.org_name, rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )


@imports_blp.route("/members/template.xlsx")
class MemberImportTemplate(MethodView):
    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @imports_blp.response(200, description="the import template (xlsx)")
    def get(self, principal: Principal) -> Response:
        """The import template: Chinese column names, notes, text cells for ID numbers and phones,
        date cells, and lists for 性别 and 党员类别."""
        return send_file(
            io.BytesIO(import_template.template_bytes()),
            mimetype=XLSX,
            as_attachment=True,
            download_name="党员信息导入模板.xlsx",
        )


@imports_blp.route("/members")
class MemberImports(MethodView):
    decorators = [limiter.limit(IMPORTS)]

    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @imports_blp.arguments(schemas.ImportQuery, location="query", unknown=RAISE)
    @imports_blp.response(200, schemas.ImportResultSchema, description="a dry run")
    @imports_blp.alt_response(201, schema=schemas.ImportResultSchema, description="imported")
    def post(self, query: dict[str, Any], principal: Principal) -> Any:
        """Import members from an xlsx or csv file (multipart `file`); all or nothing, or a dry run."""
        # The scope and the size come before the upload is parsed: a file is work for the server.
        commands.check_import_scope(_uow(), principal, query["branch"])
        if (request.content_length or 0) > imports.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            raise imports.UploadTooLarge("the upload is over 5 MB", field="file", location="files")
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput(
                "send the spreadsheet as a multipart field named file", field="file", location="files"
            )
        content = imports.read_capped(upload.stream)
        parsed = imports.parse_members(content, upload.filename or "", query["branch"])
        command = commands.ImportMembers(
            query["branch"], parsed.rows, parsed.valid, parsed.errors, query["dry_run"]
        )
        try:
            result = commands.import_members(_uow(), principal, command)
        except commands.ImportRejected as rejected:
            rows = imports.readable_errors(parsed, rejected.rows)
            return jsonify(error_body(422, rejected.message, {"file": rows})), 422
        return replace(result, errors=imports.readable_errors(parsed, result.errors)), (
            200 if query["dry_run"] else 201
        )
