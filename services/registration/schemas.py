"""Request and response schemas of the registration API (they make the OpenAPI document)."""

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.registration.domain import (
    CONTACT_METHODS,
    CONTACT_RESULTS,
    LEVELS,
    ORG_CODE,
    PHONE,
    STANDING_DECISIONS,
    STANDINGS,
    STATION_KINDS,
)
from shared.pagination import PageQuery, page_schema
from shared.text import instant_of_era, month_of_era, no_control_characters

YEAR_MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM")
org_code = validate.Regexp(ORG_CODE.pattern, error="must be 2-40 characters of A-Z, 0-9 and -")


class OrgCreateSchema(Schema):
    code = fields.String(required=True, validate=org_code)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), no_control_characters])
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
    # An Org row keeps the materialized "/CN/.../CODE/"; the API gives the codes from the root.
    path = fields.List(fields.String(), required=True, attribute="path_codes")
    region = fields.String(allow_none=True)


class OrgListQuery(PageQuery):
    parent = fields.String(load_default=None, validate=org_code, metadata={"description": "direct children"})
    under = fields.String(load_default=None, validate=org_code, metadata={"description": "the whole subtree"})
    level = fields.String(load_default=None, validate=validate.OneOf(LEVELS))


OrgPageSchema = page_schema(OrgSchema)


class MemberCreateSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=100), no_control_characters])
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


class BirthDate(fields.String):
    """A date (YYYY-MM-DD), or the year alone (YYYY) where the record is masked: documented as a
    string, since a masked one is no date."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return (
            value.isoformat() if isinstance(value, date) else super()._serialize(value, attr, obj, **kwargs)
        )


class OpenOutflowSchema(Schema):
    id = fields.String(required=True)
    activity_card_no = fields.String(required=True)
    destination_region = fields.String(required=True)
    destination_address = fields.String(required=True)
    departed_on = fields.Date(required=True)
    expected_return_on = fields.Date(allow_none=True, required=True)


class MemberSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    gender = fields.String(required=True)
    birth_date = BirthDate(
        metadata={"description": "YYYY-MM-DD; the year alone (YYYY) where id_number is masked"}
    )
    id_number = fields.String()
    phone = fields.String()
    status = fields.String(required=True)
    branch_code = fields.String(required=True)
    joined_on = fields.Date()
    dues_paid_through = fields.String(required=True)
    mobile = fields.Boolean(required=True)
    lost_contact = fields.Boolean(required=True)
    last_contact_at = fields.DateTime(allow_none=True)
    lost_contact_since = fields.Date(
        allow_none=True, metadata={"description": "the China date the member was found lost; null in contact"}
    )
    standing = fields.String(validate=validate.OneOf(STANDINGS), metadata={"description": "normal|suspended|removed"})
    six_facts = fields.Nested(SixFactsSchema, required=True)
    inflow_branch_code = fields.String(
        allow_none=True, metadata={"description": "the branch of the open inflow (双向管理), or null"}
    )
    open_outflow = fields.Nested(
        OpenOutflowSchema,
        allow_none=True,
        metadata={"description": "the open outflow, or null; in a single member's record only"},
    )


phone_number = validate.Regexp(PHONE.pattern, error="must be an 11-digit mainland mobile number")
fact_text = no_control_characters


class SixFactsPatchSchema(Schema):
    occupation = fields.String(allow_none=True, validate=[validate.Length(min=1, max=200), fact_text])
    employer = fields.String(allow_none=True, validate=[validate.Length(max=200), fact_text])
    current_address = fields.String(allow_none=True, validate=[validate.Length(min=1, max=300), fact_text])
    contact_phone = fields.String(allow_none=True, validate=phone_number)


class MemberPatchSchema(Schema):
    """Any of these; `id_number`, `branch_code` and `dues_paid_through` change by other means."""

    name = fields.String(validate=[validate.Length(min=1, max=100), no_control_characters])
    gender = fields.String(validate=validate.OneOf(["male", "female"]))
    birth_date = fields.Date()
    phone = fields.String(validate=phone_number)
    status = fields.String(validate=validate.OneOf(["full", "probationary"]))
    six_facts = fields.Nested(SixFactsPatchSchema)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _not_patchable(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        reasons = {
            "id_number": "the ID number is fixed at registration",
            "branch_code": "the branch changes by a transfer",
            "dues_paid_through": "dues move forward by POST /members/{id}/dues",
        }
        if isinstance(original, dict):
            for name, reason in reasons.items():
                if name in original:
                    raise ValidationError(f"{name} is not patchable: {reason}", name)


class CheckinCreateSchema(Schema):
    member_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    branch_code = fields.String(
        load_default=None, validate=org_code, metadata={"description": "required unless kind is qr"}
    )
    kind = fields.String(required=True, validate=validate.OneOf(["self", "grid_survey", "transfer", "qr"]))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    qr_token = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "kind qr: the code scanned at a station (what /scan?t= carries)"},
    )

    @validates_schema
    def _by_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("kind") == "qr":
            if not data.get("qr_token"):
                raise ValidationError("a check-in by scan needs the scanned qr_token", "qr_token")
            if data.get("branch_code") or data.get("occurred_at"):
                # The station decides where, the scan decides when.
                field = "branch_code" if data.get("branch_code") else "occurred_at"
                raise ValidationError("a check-in by scan takes neither branch_code nor occurred_at", field)
        elif not data.get("branch_code"):
            raise ValidationError("Missing data for required field.", "branch_code")


class CheckinSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    branch_code = fields.String(required=True)
    kind = fields.String(required=True)
    occurred_at = fields.DateTime(required=True)
    note = fields.String(allow_none=True)
    station_code = fields.String(allow_none=True)


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
        load_default=None, validate=validate.Regexp(r"^[0-9]{2,20}$", error="must be 2-20 digits")
    )
    lat = fields.Float(load_default=None, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(load_default=None, validate=validate.Range(min=-180, max=180))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))

    @validates_schema
    def _where(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ValidationError("give lat and lon together", "lat" if data.get("lat") is None else "lon")
        if data.get("region") is None and data.get("lat") is None:
            raise ValidationError("give a region, or lat and lon", "region")


class StationSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    host_org_code = fields.String(required=True)
    region = fields.String(required=True)
    address = fields.String(required=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    open_hours = fields.String(allow_none=True)
    key_version = fields.Integer(metadata={"description": "bumped by every key rotation"})


class NearbyStationSchema(StationSchema):
    distance_km = fields.Float(allow_none=True, metadata={"description": "with lat and lon: great-circle km"})


class NearestSchema(Schema):
    region = fields.String(allow_none=True, required=True)
    matched_prefix = fields.String(allow_none=True, required=True)
    items = fields.List(fields.Nested(OrgSchema), required=True, metadata={"description": "branches"})
    stations = fields.List(fields.Nested(NearbyStationSchema), required=True)


class StationCreateSchema(Schema):
    code = fields.String(required=True, validate=org_code)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(STATION_KINDS))
    host_org_code = fields.String(required=True, validate=org_code)
    region = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9]{2,20}$", error="must be a region code of 2-20 digits"),
    )
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    latitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-180, max=180))
    open_hours = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class StationListQuery(PageQuery):
    region = fields.String(
        load_default=None, validate=validate.Regexp(r"^[0-9]{1,20}$", error="must be digits")
    )
    org = fields.String(
        load_default=None, validate=org_code, metadata={"description": "hosted in this subtree"}
    )


StationPageSchema = page_schema(StationSchema)


class ScreenCodeSchema(Schema):
    token = fields.String(required=True)
    expires_at = fields.DateTime(required=True)
    url = fields.String(
        required=True, metadata={"description": "what the QR encodes: the console's /scan page"}
    )


class StationStatsQuery(Schema):
    org = fields.String(load_default=None, validate=org_code)
    month = fields.String(required=True, validate=YEAR_MONTH)


class StationFigureSchema(Schema):
    station_code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    host_org_code = fields.String(required=True)
    checkins = fields.Integer(required=True)


class StationStatsSchema(Schema):
    org = fields.String(required=True)
    month = fields.String(required=True)
    total = fields.Integer(required=True)
    items = fields.List(fields.Nested(StationFigureSchema), required=True)


class RelationshipMoveSchema(Schema):
    branch_code = fields.String(required=True, validate=org_code)
    transfer_id = fields.String(required=True, validate=validate.Length(min=1, max=80))


class MemberReadQuery(Schema):
    masked = fields.Boolean(
        load_default=False,
        metadata={"description": "true: ID and phone numbers masked, for callers that need neither"},
    )


class MemberListQuery(PageQuery):
    branch = fields.String(
        load_default=None, validate=org_code, metadata={"description": "a branch, or any org: its subtree"}
    )
    org = fields.String(
        load_default=None, validate=org_code, metadata={"description": "an org: its subtree (as branch)"}
    )
    mobile = fields.Boolean(load_default=None, allow_none=True)
    lost_contact = fields.Boolean(load_default=None, allow_none=True)
    inflow_branch = fields.String(
        load_default=None,
        validate=org_code,
        metadata={"description": "members with an open inflow at this branch (or in this subtree)"},
    )
    q = fields.String(
        load_default=None,
        validate=[validate.Length(min=1, max=50), no_control_characters],
        metadata={"description": "names containing this text"},
    )
    id_number = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^ *[0-9]{17}[0-9Xx] *$", error="must be 18 characters: 17 digits and a digit or X"),
        metadata={"description": "exact match (audited as a full read of whom it finds)"},
    )
    not_reached_in = fields.String(
        load_default=None,
        validate=month_of_era,
        metadata={"description": "YYYY-MM: neither a check-in nor a reached contact attempt that month"},
    )
    dues_behind = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "true: members not removed whose dues are paid through a month before this one"},
    )


class ContactAttemptCreateSchema(Schema):
    method = fields.String(required=True, validate=validate.OneOf(CONTACT_METHODS))
    result = fields.String(required=True, validate=validate.OneOf(CONTACT_RESULTS))
    note = fields.String(
        load_default=None, allow_none=True, validate=[validate.Length(max=1000), no_control_characters]
    )


class ContactAttemptSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    method = fields.String(required=True)
    result = fields.String(required=True)
    note = fields.String(allow_none=True)
    attempted_at = fields.DateTime(required=True)
    recorded_by = fields.String(required=True)
    recorder_org_code = fields.String(required=True)
    inflow_branch_code = fields.String(allow_none=True)


ContactAttemptPageSchema = page_schema(ContactAttemptSchema)


class StandingDecisionCreateSchema(Schema):
    standing = fields.String(required=True, validate=validate.OneOf(STANDING_DECISIONS))
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=1000), no_control_characters])
    decided_on = fields.Date(required=True)


class StandingDecisionSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    standing = fields.String(required=True, metadata={"description": "as decided: suspended|restored|removed"})
    previous_standing = fields.String(required=True)
    new_standing = fields.String(required=True, metadata={"description": "the member's standing now"})
    reason = fields.String(required=True)
    decided_on = fields.Date(required=True)
    decided_by = fields.String(required=True)
    decided_by_org_code = fields.String(required=True)


class CoverageQuery(Schema):
    org = fields.String(required=True, validate=org_code)
    month = fields.String(required=True, validate=month_of_era)


class CoverageSchema(Schema):
    org = fields.String(required=True)
    month = fields.String(required=True)
    mobile_members = fields.Integer(required=True)
    reached = fields.Integer(required=True, metadata={"description": "a check-in or reached attempt that month"})
    not_reached = fields.Integer(required=True)
    lost_contact = fields.Integer(required=True)


class MaskedMemberSchema(MemberSchema):
    class Meta:
        exclude = ("open_outflow",)


MemberPageSchema = page_schema(MaskedMemberSchema, "MemberPage")


class OutflowCreateSchema(Schema):
    destination_region = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9]{2,20}$", error="must be a region code of 2-20 digits"),
    )
    destination_address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    occupation = fields.String(required=True, validate=validate.Length(min=1, max=200))
    employer = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    departed_on = fields.Date(required=True)
    expected_return_on = fields.Date(load_default=None, allow_none=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    contact_phone = fields.String(required=True, validate=validate.Length(min=11, max=11))


class OutflowSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    activity_card_no = fields.String(required=True)
    branch_code = fields.String()
    county_code = fields.String()
    destination_region = fields.String()
    destination_address = fields.String()
    occupation = fields.String()
    employer = fields.String(allow_none=True)
    departed_on = fields.Date()
    expected_return_on = fields.Date(allow_none=True)
    reason = fields.String()
    contact_phone = fields.String()
    created_at = fields.DateTime()


class InflowCreateSchema(Schema):
    branch_code = fields.String(required=True, validate=org_code)
    arrived_on = fields.Date(required=True)
    current_address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    occupation = fields.String(required=True, validate=validate.Length(min=1, max=200))
    employer = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    contact_person = fields.String(
        load_default=None, allow_none=True, validate=[validate.Length(max=100), no_control_characters]
    )
    activity_card_no = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=60),
        metadata={
            "description": "the card of the member's open outflow; required from a secretary or officer"
        },
    )


class InflowSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    branch_code = fields.String(required=True)
    home_branch_code = fields.String()
    arrived_on = fields.Date()
    current_address = fields.String()
    occupation = fields.String()
    employer = fields.String(allow_none=True)
    contact_person = fields.String(allow_none=True)
    created_at = fields.DateTime()


class MobilityEntrySchema(Schema):
    kind = fields.String(required=True, metadata={"description": "outflow or inflow"})
    id = fields.String(required=True)
    member_id = fields.String()
    activity_card_no = fields.String()
    branch_code = fields.String()
    home_branch_code = fields.String()
    county_code = fields.String()
    destination_region = fields.String()
    destination_address = fields.String()
    current_address = fields.String()
    occupation = fields.String()
    employer = fields.String(allow_none=True)
    departed_on = fields.Date()
    expected_return_on = fields.Date(allow_none=True)
    arrived_on = fields.Date()
    reason = fields.String()
    contact_phone = fields.String()
    contact_person = fields.String(allow_none=True)
    created_at = fields.DateTime()


class MobilitySchema(Schema):
    member_id = fields.String(required=True)
    mobile = fields.Boolean(required=True)
    items = fields.List(fields.Nested(MobilityEntrySchema), required=True)


class CheckinListQuery(PageQuery):
    member_id = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    branch = fields.String(load_default=None, validate=org_code)
    since = fields.AwareDateTime(load_default=None, validate=instant_of_era)


CheckinPageSchema = page_schema(CheckinSchema)


class LedgerQuery(Schema):
    org = fields.String(required=True, validate=org_code)
    side = fields.String(
        load_default="outflow",
        validate=validate.OneOf(["outflow", "inflow"]),
        metadata={"description": "outflow: members of the subtree away; inflow: open inflows in it"},
    )
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "json", "xlsx"]))
    masked = fields.Boolean(
        load_default=True,
        metadata={
            "description": "false: full ID numbers, phones and birth dates (the sheet imports back); "
            "for those who may read the members in full, audited; never for a service"
        },
    )


class ImportQuery(Schema):
    branch = fields.String(required=True, validate=org_code)
    dry_run = fields.Boolean(load_default=False)


class ImportErrorSchema(Schema):
    row = fields.Integer(required=True)
    field = fields.String(required=True)
    message = fields.String(required=True)


class ImportResultSchema(Schema):
    rows = fields.Integer(required=True)
    valid = fields.Integer()
    created = fields.Integer()
    existing = fields.Integer(metadata={"description": "rows already registered at this branch (re-import)"})
    errors = fields.List(fields.Nested(ImportErrorSchema), required=True)


class DuesCreateSchema(Schema):
    paid_through = fields.String(required=True, validate=YEAR_MONTH)
    # A string, so no float ever carries the money (the use case checks it and makes a Decimal).
    amount = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": 'yuan as a decimal string with at most 2 decimals, e.g. "12.50"'},
    )
    paid_on = fields.Date(load_default=None, allow_none=True)


class DuesSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    paid_through = fields.String(required=True)
    amount = fields.Decimal(required=True, places=2, as_string=True)
    paid_on = fields.Date(required=True)
    recorded_by = fields.String(required=True)


class DuesListQuery(PageQuery):
    pass


DuesPageSchema = page_schema(DuesSchema, "DuesPage")


class ReturnCreateSchema(Schema):
    returned_on = fields.Date(required=True)
    note = fields.String(
        load_default=None, allow_none=True, validate=[validate.Length(max=500), no_control_characters]
    )


class ReturnSchema(Schema):
    outflow_id = fields.String(required=True)
    member_id = fields.String(required=True)
    activity_card_no = fields.String(required=True)
    returned_on = fields.Date(required=True)
    note = fields.String(allow_none=True)
    mobile = fields.Boolean(required=True)


class BreakdownQuery(Schema):
    org = fields.String(required=True, validate=org_code)
    month = fields.String(required=True, validate=month_of_era)


class FiguresSchema(Schema):
    members = fields.Integer(required=True, metadata={"description": "members not removed"})
    mobile_members = fields.Integer(required=True)
    reached = fields.Integer(required=True, metadata={"description": "mobile members reached that month"})
    not_reached = fields.Integer(required=True)
    lost_contact = fields.Integer(required=True, metadata={"description": "mobile members lost"})
    dues_behind = fields.Integer(
        required=True, metadata={"description": "members whose dues_paid_through is before dues_month"}
    )


class ChildFiguresSchema(FiguresSchema):
    org_code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)


class BreakdownSchema(Schema):
    org = fields.String(required=True)
    month = fields.String(required=True)
    dues_month = fields.String(required=True, metadata={"description": "the current China month"})
    totals = fields.Nested(FiguresSchema, required=True)
    items = fields.List(fields.Nested(ChildFiguresSchema), required=True)


class FlowsQuery(Schema):
    org = fields.String(required=True, validate=org_code)


class ProvinceCountSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    count = fields.Integer(required=True)


class FlowsSchema(Schema):
    org = fields.String(required=True)
    outflows = fields.List(
        fields.Nested(ProvinceCountSchema),
        required=True,
        metadata={"description": "mobile members by destination province (GB/T 2260 code)"},
    )
    inflows = fields.List(
        fields.Nested(ProvinceCountSchema),
        required=True,
        metadata={"description": "members with an open inflow here, by their home province org"},
    )
