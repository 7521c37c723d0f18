"""Events published by the registration service."""

from marshmallow import fields

from shared.contracts.base import EventData
from shared.events import register


class OrgCreated(EventData):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    parent_code = fields.String(allow_none=True)
    path = fields.List(fields.String(), required=True)


class MemberCreated(EventData):
    member_id = fields.String(required=True)
    name = fields.String(required=True)
    branch_code = fields.String(required=True)
    branch_path = fields.List(fields.String(), load_default=list)


class MemberCheckedIn(EventData):
    checkin_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    branch_code = fields.String(required=True)
    branch_path = fields.List(fields.String(), load_default=list)
    home_branch_code = fields.String(allow_none=True, load_default=None)
    kind = fields.String(required=True)
    occurred_at = fields.String(required=True)


ORG_CREATED = register("registration.org_created.v1", OrgCreated())
MEMBER_CREATED = register("registration.member_created.v1", MemberCreated())
MEMBER_CHECKED_IN = register("registration.member_checked_in.v1", MemberCheckedIn())
