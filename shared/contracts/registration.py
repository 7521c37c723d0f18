"""Events published by the registration service."""

from marshmallow import fields

from shared.contracts.base import EventData


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
    # A check-in by scan (kind qr): the station scanned, and its name for the notice to the
    # member's home branch. Absent from other check-ins (and from events before stations).
    station_code = fields.String(allow_none=True, load_default=None)
    station_name = fields.String(allow_none=True, load_default=None)


class MemberLostContact(MemberEvent):
    last_contact_at = fields.String(allow_none=True, load_default=None)
    lost_contact_days = fields.Integer(required=True)


class RelationshipMoved(MemberEvent):
    """`branch_code` is the new branch."""

    transfer_id = fields.String(required=True)
    from_branch_code = fields.String(required=True)


ORG_CREATED = "registration.org_created.v1"
MEMBER_CREATED = "registration.member_created.v1"
OUTFLOW_REGISTERED = "registration.outflow_registered.v1"
INFLOW_REGISTERED = "registration.inflow_registered.v1"
MEMBER_CHECKED_IN = "registration.member_checked_in.v1"
MEMBER_LOST_CONTACT = "registration.member_lost_contact.v1"
RELATIONSHIP_MOVED = "registration.relationship_moved.v1"

# Every event type this service publishes, with the schema of its data.
SCHEMAS: dict[str, EventData] = {
    ORG_CREATED: OrgCreated(),
    MEMBER_CREATED: MemberCreated(),
    OUTFLOW_REGISTERED: OutflowRegistered(),
    INFLOW_REGISTERED: InflowRegistered(),
    MEMBER_CHECKED_IN: MemberCheckedIn(),
    MEMBER_LOST_CONTACT: MemberLostContact(),
    RELATIONSHIP_MOVED: RelationshipMoved(),
}
