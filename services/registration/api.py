"""HTTP endpoints of the registration service: parse, call a use case, serialize. No rules here."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.registration import schemas, service
from shared.auth import Principal
from shared.web import Blueprint, authenticated, context

orgs = Blueprint("orgs", __name__, url_prefix="/api/v1/orgs", description="The org tree")
members = Blueprint("members", __name__, url_prefix="/api/v1/members", description="Members")
checkins = Blueprint("checkins", __name__, url_prefix="/api/v1/checkins", description="Check-ins (报到)")


@orgs.route("")
class Orgs(MethodView):
    @authenticated()
    @orgs.arguments(schemas.OrgListQuery, location="query")
    @orgs.response(200, schemas.OrgPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """List orgs, optionally the children of `parent`."""
        return service.list_orgs(context().database, query["parent"], query["limit"], query["cursor"])

    @authenticated("admin", "org_department")
    @orgs.arguments(schemas.OrgCreateSchema)
    @orgs.response(201, schemas.OrgSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Create an org below an existing parent."""
        return service.create_org(context().database, principal, body)


@orgs.route("/route")
class OrgRoute(MethodView):
    @authenticated()
    @orgs.arguments(schemas.RouteQuery, location="query")
    @orgs.response(200, schemas.RouteSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The route class between two branches and each side's ancestors by level."""
        return service.route_between(context().database, query["from_"], query["to"])


@orgs.route("/nearest")
class OrgNearest(MethodView):
    @authenticated()
    @orgs.arguments(schemas.NearestQuery, location="query")
    @orgs.response(200, schemas.NearestSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """就近就便: branches nearest to a region code, by the longest shared prefix."""
        return service.nearest_branches(context().database, query["region"], query["limit"])


@orgs.route("/<string:code>")
class OrgByCode(MethodView):
    @authenticated()
    @orgs.response(200, schemas.OrgSchema)
    def get(self, code: str, principal: Principal) -> dict[str, Any]:
        """One org with its path from the root."""
        return service.get_org(context().database, code)


@members.route("")
class Members(MethodView):
    @authenticated("branch_secretary", "township_officer", "org_department", "admin")
    @members.arguments(schemas.MemberCreateSchema)
    @members.response(201, schemas.MemberSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Register a member at a branch (the secretary of that branch or anyone above it)."""
        return service.create_member(context().database, principal, body)


@members.route("/<string:member_id>")
class MemberById(MethodView):
    @authenticated()
    @members.response(200, schemas.MemberSchema)
    def get(self, member_id: str, principal: Principal) -> dict[str, Any]:
        """One member in full, for the member, their secretary and those above (audited)."""
        return service.get_member(context().database, principal, member_id)


@checkins.route("")
class Checkins(MethodView):
    @authenticated("member", "branch_secretary", "township_officer", "admin", "service")
    @checkins.arguments(schemas.CheckinCreateSchema)
    @checkins.response(201, schemas.CheckinSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Record a check-in (报到): the member themself, or a grid survey by a secretary or officer."""
        return service.create_checkin(context().database, principal, body)


@members.route("/<string:member_id>/relationship")
class MemberRelationship(MethodView):
    @authenticated("service")
    @members.arguments(schemas.RelationshipMoveSchema)
    @members.response(200, schemas.MemberSchema)
    def post(self, body: dict[str, Any], member_id: str, principal: Principal) -> dict[str, Any]:
        """Move the member's relationship to another branch (the transfer service; idempotent by transfer_id)."""
        return service.move_relationship(context().database, principal, member_id, body)
