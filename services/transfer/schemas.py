"""Request and response schemas of the transfer API (they make the OpenAPI document)."""

from marshmallow import Schema, fields, validate

from services.transfer import domain
from shared.pagination import PageQuery, page_schema

org_code = validate.Regexp(r"^[A-Z0-9-]{2,40}$", error="must be 2-40 characters of A-Z, 0-9 and -")
reason_text = validate.Length(min=1, max=2000)
STATUSES = [domain.stage_status(stage) for stage in domain.STAGES] + [
    domain.LETTER_ISSUED,
    domain.RETURNED,
    *domain.TERMINAL,
]


class TransferCreateSchema(Schema):
    member_id = fields.String(required=True, validate=validate.Length(min=1, max=26))
    to_branch_code = fields.String(required=True, validate=org_code)
    reason = fields.String(required=True, validate=reason_text)


class DecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(domain.DECISIONS))
    reason = fields.String(load_default=None, allow_none=True, validate=reason_text)


class ResubmitSchema(Schema):
    to_branch_code = fields.String(load_default=None, allow_none=True, validate=org_code)
    reason = fields.String(load_default=None, allow_none=True, validate=reason_text)


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=reason_text)


class ReissueSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=reason_text)


class ReportSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class UrgeSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class BatchDecisionItemSchema(Schema):
    # Only what names the item is checked here; the decision and reason are checked per item by
    # the single endpoint's validators, so a bad item is refused alone (422 in its result).
    transfer_id = fields.String(required=True, validate=validate.Length(min=1, max=26))
    decision = fields.String(required=True, validate=validate.Length(max=20))
    reason = fields.String(load_default=None, allow_none=True, validate=reason_text)


class BatchDecisionSchema(Schema):
    items = fields.List(
        fields.Nested(BatchDecisionItemSchema),
        required=True,
        validate=validate.Length(min=1, max=100, error="between 1 and 100 items"),
    )


class StageSchema(Schema):
    name = fields.String(required=True)
    org_code = fields.String(allow_none=True)
    due_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean(required=True)


class TimelineEntrySchema(Schema):
    at = fields.AwareDateTime(required=True)
    stage = fields.String(allow_none=True)
    org_code = fields.String(allow_none=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    reason = fields.String(allow_none=True)
    # 代办: the org an org above decided this overdue stage for, and "代 <org name> 办理";
    # an urge's note.
    acted_for_org_code = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class MemberSummarySchema(Schema):
    name = fields.String(required=True)
    gender = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    joined_on = fields.String(allow_none=True)
    dues_paid_through = fields.String(allow_none=True)
    dues_months_behind = fields.Integer(
        allow_none=True, metadata={"description": "whole months behind the current month (China time)"}
    )


def _verification_url(letter: dict) -> str | None:
    from services.transfer.letters_api import verification_url_of  # the PDF stack loads on first use

    return verification_url_of(letter)


class LetterSchema(Schema):
    number = fields.String(required=True)
    issued_on = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    dues_paid_through = fields.String(allow_none=True)
    # Issue 20: what the letter's QR encodes (the console's public /verify page for this letter).
    verification_url = fields.Function(_verification_url, dump_only=True)


class TransferSchema(Schema):
    id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String()
    from_branch_code = fields.String(required=True)
    to_branch_code = fields.String(required=True)
    route = fields.String(required=True)
    status = fields.String(required=True)
    reason = fields.String()
    applicant = fields.String()
    current_stage = fields.Nested(StageSchema, allow_none=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    letter = fields.Nested(LetterSchema, allow_none=True)
    failure_reason = fields.String(allow_none=True)
    receipt_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    # GET /transfers/{id} (issue 21): the approver's summary of the member (null while
    # registration cannot answer), and what the caller may do now.
    member = fields.Nested(MemberSummarySchema, allow_none=True)
    allowed_actions = fields.List(
        fields.String(validate=validate.OneOf(domain.ACTIONS)),
        metadata={"description": "out of " + ", ".join(domain.ACTIONS)},
    )


class BatchErrorSchema(Schema):
    code = fields.Integer(required=True)
    message = fields.String(required=True)
    errors = fields.Dict()


class BatchResultSchema(Schema):
    transfer_id = fields.String(required=True)
    status = fields.Integer(required=True, metadata={"description": "what the single endpoint answers"})
    transfer = fields.Nested(TransferSchema)
    error = fields.Nested(BatchErrorSchema)


class BatchResultsSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)


class TransferListQuery(PageQuery):
    box = fields.String(
        load_default="todo",
        validate=validate.OneOf(domain.BOXES),
        metadata={
            "description": "todo: waiting on the org; pending: its step is done, not finished; "
            "coming: will reach its stage later; done: finished"
        },
    )
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    org = fields.String(load_default=None, validate=org_code)
    scope = fields.String(
        load_default="org",
        validate=validate.OneOf(["org", "subtree"]),
        metadata={"description": "org: the org itself; subtree: every org at or under it (as stats count)"},
    )


class StatsQuery(Schema):
    org = fields.String(load_default=None, validate=org_code)


class ProvinceCountSchema(Schema):
    code = fields.String(required=True, metadata={"description": "the province-level org's code"})
    name = fields.String(required=True)
    count = fields.Integer(required=True)


class TransferStatsSchema(Schema):
    todo = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    in_this_year = fields.Integer(required=True)
    out_this_year = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    coming = fields.Integer(required=True)
    overdue_by_stage = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "addition: the overdue transfers the subtree holds, by their stage"},
    )
    in_by_province = fields.List(
        fields.Nested(ProvinceCountSchema),
        required=True,
        metadata={"description": "addition: completed this year into the subtree, by the sending province"},
    )
    out_by_province = fields.List(
        fields.Nested(ProvinceCountSchema),
        required=True,
        metadata={"description": "addition: completed this year out of the subtree, by the receiving province"},
    )


TransferPageSchema = page_schema(TransferSchema)
