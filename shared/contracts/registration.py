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


class ActorFields(EventData):
    """Who acted: the `sub`, the principal's `name` claim (or null) and their org."""

    actor = fields.String(required=True)
    actor_name = fields.String(allow_none=True, load_default=None)
    actor_org_code = fields.String(allow_none=True, load_default=None)


class MemberUpdated(MemberEvent, ActorFields):
    """A member record was edited: the names of the changed fields (`phone`,
    `six_facts.current_address`, ...), never their values."""

    actor_role = fields.String(allow_none=True, load_default=None)
    # Last: from here on `fields` in this class body is this field, not the marshmallow module
    # (marshmallow takes declared fields off the class, so the name shadows nothing of Schema).
    fields = fields.List(fields.String(), required=True)  # type: ignore[assignment]


class DuesRecorded(MemberEvent, ActorFields):
    dues_id = fields.String(required=True)
    paid_through = fields.String(required=True)  # YYYY-MM
    amount = fields.String(required=True)  # yuan, a decimal string ("12.50")
    paid_on = fields.String(required=True)  # YYYY-MM-DD


class MemberReturned(MemberEvent, ActorFields):
    outflow_id = fields.String(required=True)
    activity_card_no = fields.String(required=True)
    returned_on = fields.String(required=True)
    destination_region = fields.String(required=True)
    destination_region_name = fields.String(allow_none=True, load_default=None)


class ContactAttempted(MemberEvent):
    """An attempt to reach a member; `inflow_branch_code` when the inflow side recorded it."""

    attempt_id = fields.String(required=True)
    method = fields.String(required=True)
    result = fields.String(required=True)
    attempted_at = fields.String(required=True)
    actor = fields.String(required=True)
    actor_name = fields.String(allow_none=True, load_default=None)
    actor_org_code = fields.String(allow_none=True, load_default=None)
    inflow_branch_code = fields.String(allow_none=True, load_default=None)


class MemberSuspensionDue(MemberEvent):
    """Lost for the configured days with enough failed attempts: the org department decides
    (once per lost-contact episode)."""

    lost_contact_since = fields.String(required=True)
    not_reached_attempts = fields.Integer(required=True)
    county_code = fields.String(allow_none=True, load_default=None)
    county_name = fields.String(allow_none=True, load_default=None)


class MemberStandingChanged(MemberEvent):
    """`standing` as requested (suspended|restored|removed); `new_standing` the result."""

    standing = fields.String(required=True)
    new_standing = fields.String(required=True)
    previous_standing = fields.String(required=True)
    reason = fields.String(required=True)
    decided_on = fields.String(required=True)
    actor = fields.String(required=True)
    actor_name = fields.String(allow_none=True, load_default=None)
    actor_org_code = fields.String(allow_none=True, load_default=None)
    actor_org_name = fields.String(allow_none=True, load_default=None)


class CoverageReminderDue(EventData):
    """每月一摸排: a branch's mobile members not reached this month (its 25th, China time)."""

    branch_code = fields.String(required=True)
    branch_name = fields.String(required=True)
    branch_path = fields.List(fields.String(), load_default=list)
    month = fields.String(required=True)
    mobile_members = fields.Integer(required=True)
    not_reached = fields.Integer(required=True)
    not_reached_names = fields.List(fields.String(), load_default=list)


class StaffEvent(EventData):
    """A change of the staff directory; `org_path` routes it to the org and those above."""

    staff_id = fields.String(required=True)
    org_code = fields.String(required=True)
    org_path = fields.List(fields.String(), load_default=list)
    subject = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)


class StaffAssigned(StaffEvent):
    pass


class StaffRemoved(StaffEvent):
    pass


ORG_CREATED = "registration.org_created.v1"
MEMBER_CREATED = "registration.member_created.v1"
OUTFLOW_REGISTERED = "registration.outflow_registered.v1"
INFLOW_REGISTERED = "registration.inflow_registered.v1"
MEMBER_CHECKED_IN = "registration.member_checked_in.v1"
MEMBER_LOST_CONTACT = "registration.member_lost_contact.v1"
RELATIONSHIP_MOVED = "registration.relationship_moved.v1"
MEMBER_UPDATED = "registration.member_updated.v1"
DUES_RECORDED = "registration.dues_recorded.v1"
MEMBER_RETURNED = "registration.member_returned.v1"
STAFF_ASSIGNED = "registration.staff_assigned.v1"
STAFF_REMOVED = "registration.staff_removed.v1"
CONTACT_ATTEMPTED = "registration.contact_attempted.v1"
MEMBER_SUSPENSION_DUE = "registration.member_suspension_due.v1"
MEMBER_STANDING_CHANGED = "registration.member_standing_changed.v1"
COVERAGE_REMINDER_DUE = "registration.coverage_reminder_due.v1"

# Every event type this service publishes, with the schema of its data.
SCHEMAS: dict[str, EventData] = {
    ORG_CREATED: OrgCreated(),
    MEMBER_CREATED: MemberCreated(),
    OUTFLOW_REGISTERED: OutflowRegistered(),
    INFLOW_REGISTERED: InflowRegistered(),
    MEMBER_CHECKED_IN: MemberCheckedIn(),
    MEMBER_LOST_CONTACT: MemberLostContact(),
    RELATIONSHIP_MOVED: RelationshipMoved(),
    MEMBER_UPDATED: MemberUpdated(),
    DUES_RECORDED: DuesRecorded(),
    MEMBER_RETURNED: MemberReturned(),
    STAFF_ASSIGNED: StaffAssigned(),
    STAFF_REMOVED: StaffRemoved(),
    CONTACT_ATTEMPTED: ContactAttempted(),
    MEMBER_SUSPENSION_DUE: MemberSuspensionDue(),
    MEMBER_STANDING_CHANGED: MemberStandingChanged(),
    COVERAGE_REMINDER_DUE: CoverageReminderDue(),
}
