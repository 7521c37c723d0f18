"""Request and response schemas of the registration API (they make the OpenAPI document)."""

from marshmallow import Schema, fields, validate

from services.registration.domain import LEVELS, ORG_CODE
from shared.pagination import PageQuery, page_schema

YEAR_MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM")
org_code = validate.Regexp(ORG_CODE.pattern, error="must be 2-40 characters of A-Z, 0-9 and -")


class OrgCreateSchema(Schema):
    code = fields.String(required=True, validate=org_code)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS[1:]))
    parent_code = fields.String(required=True, allow_none=True, validate=org_code)
    region = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9A-Za-z-]{1,40}$")
    )


class OrgSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    parent_code = fields.String(allow_none=True, required=True)
    path = fields.List(fields.String(), required=True)
    region = fields.String(allow_none=True)


class OrgListQuery(PageQuery):
    parent = fields.String(load_default=None, validate=org_code)


OrgPageSchema = page_schema(OrgSchema)


class MemberCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    gender = fields.String(required=True, validate=validate.OneOf(["male", "female"]))
    birth_date = fields.Date(required=True)
    id_number = fields.String(required=True, validate=validate.Length(equal=18))
    phone = fields.String(required=True, validate=validate.Length(min=11, max=11))
    status = fields.String(required=True, validate=validate.OneOf(["full", "probationary"]))
    branch_code = fields.String(required=True, validate=org_code)
    joined_on = fields.Date(required=True)
    dues_paid_through = fields.String(required=True, validate=YEAR_MONTH)


class SixFactsSchema(Schema):
    occupation = fields.String(allow_none=True)
    employer = fields.String(allow_none=True)
    current_address = fields.String(allow_none=True)
    departed_on = fields.Date(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    dues_paid_through = fields.String(allow_none=True)


class MemberSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    gender = fields.String(required=True)
    birth_date = fields.Date()
    id_number = fields.String()
    phone = fields.String()
    status = fields.String(required=True)
    branch_code = fields.String(required=True)
    joined_on = fields.Date()
    dues_paid_through = fields.String(required=True)
    mobile = fields.Boolean(required=True)
    lost_contact = fields.Boolean(required=True)
    last_contact_at = fields.DateTime(allow_none=True)
    six_facts = fields.Nested(SixFactsSchema, required=True)


class CheckinCreateSchema(Schema):
    member_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    branch_code = fields.String(required=True, validate=org_code)
    kind = fields.String(required=True, validate=validate.OneOf(["self", "grid_survey", "transfer"]))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class CheckinSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    branch_code = fields.String(required=True)
    kind = fields.String(required=True)
    occurred_at = fields.DateTime(required=True)
    note = fields.String(allow_none=True)


class RouteQuery(Schema):
    from_ = fields.String(required=True, data_key="from", validate=org_code)
    to = fields.String(required=True, validate=org_code)


class RouteSideSchema(Schema):
    branch = fields.String(required=True)
    township = fields.String(allow_none=True, required=True)
    county = fields.String(allow_none=True, required=True)
    city = fields.String(allow_none=True, required=True)
    province = fields.String(allow_none=True, required=True)


class RouteSchema(Schema):
    route = fields.String(required=True)
    from_ = fields.Nested(RouteSideSchema, required=True, data_key="from", attribute="from")
    to = fields.Nested(RouteSideSchema, required=True)


class NearestQuery(Schema):
    region = fields.String(
        required=True, validate=validate.Regexp(r"^[0-9]{2,20}$", error="must be 2-20 digits")
    )
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class NearestSchema(Schema):
    region = fields.String(required=True)
    matched_prefix = fields.String(allow_none=True, required=True)
    items = fields.List(fields.Nested(OrgSchema), required=True)


class RelationshipMoveSchema(Schema):
    branch_code = fields.String(required=True, validate=org_code)
    transfer_id = fields.String(required=True, validate=validate.Length(min=1, max=80))
