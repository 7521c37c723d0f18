"""GET /api/v1/audit: the audit log reader every service mounts over its own audit table."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import Table

from shared import audit
from shared.auth import Principal
from shared.pagination import PageQuery, page_schema
from shared.text import instant_of_era
from shared.web.auth import authenticated
from shared.web.context import Blueprint, context

ORG_CODE = validate.Regexp(r"^[A-Z0-9-]{2,40}$", error="must be 2-40 characters of A-Z, 0-9 and -")


class AuditListQuery(PageQuery):
    org = fields.String(load_default=None, validate=ORG_CODE, metadata={"description": "entries about its subtree"})
    member_id = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    actor = fields.String(load_default=None, validate=validate.Length(min=1, max=80))
    action = fields.String(load_default=None, validate=validate.Length(min=1, max=60))
    since = fields.AwareDateTime(load_default=None, validate=instant_of_era)
    until = fields.AwareDateTime(load_default=None, validate=instant_of_era)


class AuditEntrySchema(Schema):
    id = fields.String(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    actor_role = fields.String(required=True)
    action = fields.String(required=True)
    object_type = fields.String(required=True)
    object_id = fields.String(required=True)
    org_code = fields.String(allow_none=True, required=True)
    request_id = fields.String(allow_none=True, required=True)


AuditPageSchema = page_schema(AuditEntrySchema, "AuditPage")


def audit_blueprint(table: Table) -> SmorestBlueprint:
    """The reader over `table` (the service's audit_log): org departments read the entries about
    their subtree, admins all; newest first, keyset pages; no personal data is in an entry."""
    blueprint = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit log")

    @blueprint.route("")
    class AuditLog(MethodView):
        @authenticated("org_department", "admin")
        @blueprint.arguments(AuditListQuery, location="query", unknown=RAISE)
        @blueprint.response(200, AuditPageSchema)
        def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
            """Audit entries (who did or read what, when), filtered; newest first."""
            with context().database.snapshot() as connection:
                return audit.read_entries(connection, table, principal, audit.AuditQuery(**query))

    return blueprint
