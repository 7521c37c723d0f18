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


class MemberEvent(EventData):
    """Every member event names the member and their (home) branch with its path from the root,
    so consumers can route to the branch, its township and county without asking back."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    branch_code = fields.String(required=True)
    branch_path = fields.List(fields.String(), load_default=list)


class MemberCreated(MemberEvent):
    pass


class OutflowRegistered(MemberEvent):
    outflow_id = fields.String(required=True)
    activity_card_no = fields.String(required=True)
    destination_region = fields.String(required=True)
    destination_address = fields.String(allow_none=True, load_default=None)
    departed_on = fields.String(required=True)
    expected_return_on = fields.String(allow_none=True, load_default=None)


class InflowRegistered(MemberEvent):
    """`branch_code` is the inflow branch; `home_branch_code` holds the relationship."""

    inflow_id = fields.String(required=True)
    home_branch_code = fields.String(required=True)
    arrived_on = fields.String(required=True)
    contact_person = fields.String(allow_none=True, load_default=None)


class MemberCheckedIn(MemberEvent):
    """`branch_code` is where the member reported in; `home_branch_code` holds the relationship."""

    checkin_id = fields.String(required=True)
    home_branch_code = fields.String(allow_none=True, load_default=None)
    kind = fields.String(required=True)
    occurred_at = fields.String(required=True)


class MemberLostContact(MemberEvent):
    last_contact_at = fields.String(allow_none=True, load_default=None)
    lost_contact_days = fields.Integer(required=True)


class RelationshipMoved(MemberEvent):
    """`branch_code` is the new branch."""

    transfer_id = fields.String(required=True)
    from_branch_code = fields.String(required=True)


ORG_CREATED = register("registration.org_created.v1", OrgCreated())
MEMBER_CREATED = register("registration.member_created.v1", MemberCreated())
OUTFLOW_REGISTERED = register("registration.outflow_registered.v1", OutflowRegistered())
INFLOW_REGISTERED = register("registration.inflow_registered.v1", InflowRegistered())
MEMBER_CHECKED_IN = register("registration.member_checked_in.v1", MemberCheckedIn())
MEMBER_LOST_CONTACT = register("registration.member_lost_contact.v1", MemberLostContact())
RELATIONSHIP_MOVED = register("registration.relationship_moved.v1", RelationshipMoved())
