"""Request and response schemas of the tasks API (they make the OpenAPI document)."""

from marshmallow import Schema, fields, validate

from services.tasks.domain import ACTIONS, MAX_CAPACITY, SOURCES, STATUSES
from shared.pagination import PageQuery, page_schema
from shared.text import no_control_characters, valid_id

org_code = validate.Regexp(r"^[A-Z0-9-]{2,40}$", error="must be 2-40 characters of A-Z, 0-9 and -")
# A member id goes into the URL of a call to registration: its format is checked here.
member_id = valid_id


class TaskCreateSchema(Schema):
    title = fields.String(required=True, validate=[validate.Length(min=1, max=200), no_control_characters])
    description = fields.String(required=True, validate=validate.Length(max=5000))
    org_code = fields.String(required=True, validate=org_code)
    category = fields.String(required=True, validate=[validate.Length(min=1, max=60), no_control_characters])
    capacity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_CAPACITY))
    due_on = fields.Date(required=True)
    points = fields.Integer(load_default=10, validate=validate.Range(min=0, max=10_000))


class ClaimViewSchema(Schema):
    member_id = fields.String(required=True)
    lead = fields.Boolean(required=True)
    commitment = fields.String(allow_none=True, required=True)
    claimed_at = fields.DateTime(required=True)
    branch_code = fields.String()
    assigned_by = fields.String(allow_none=True)


class ClaimCreatedSchema(ClaimViewSchema):
    task_id = fields.String(required=True)
    task_status = fields.String(required=True)


class ProgressSchema(Schema):
    id = fields.String(required=True)
    task_id = fields.String(required=True)
    member_id = fields.String(required=True)
    percent = fields.Integer(required=True)
    note = fields.String(required=True)
    reported_at = fields.DateTime(required=True)


class EvaluationSchema(Schema):
    id = fields.String(required=True)
    task_id = fields.String(required=True)
    source = fields.String(required=True)
    rating = fields.Integer(required=True)
    comment = fields.String(allow_none=True)
    evaluator_id = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class AwardSchema(Schema):
    member_id = fields.String(required=True)
    points = fields.Integer(required=True)


class TaskSummarySchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    org_code = fields.String(required=True)
    county_code = fields.String(allow_none=True)
    category = fields.String(required=True)
    capacity = fields.Integer(required=True)
    claimed = fields.Integer(required=True)
    points = fields.Integer(required=True)
    due_on = fields.Date(required=True)
    status = fields.String(required=True)
    overdue = fields.Boolean(required=True)
    claimable = fields.Boolean(required=True)
    in_open_hall = fields.Boolean(required=True)
    officer_id = fields.String(required=True)
    lead_member_id = fields.String(allow_none=True)
    progress_percent = fields.Integer(required=True)
    summary = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    published_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    evaluated_at = fields.DateTime(allow_none=True)


class TaskSchema(TaskSummarySchema):
    claims = fields.List(fields.Nested(ClaimViewSchema), required=True)
    progress = fields.List(fields.Nested(ProgressSchema), required=True)
    evaluations = fields.List(fields.Nested(EvaluationSchema), required=True)
    awards = fields.List(fields.Nested(AwardSchema), required=True)
    allowed_actions = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "What the caller may do now, out of " + ", ".join(ACTIONS)},
    )


TaskPageSchema = page_schema(TaskSummarySchema, "TaskPage")


class TaskListQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    org = fields.String(load_default=None, validate=org_code)
    overdue = fields.Boolean(load_default=None)
    claimable = fields.Boolean(load_default=None)
    category = fields.String(load_default=None, validate=validate.Length(min=1, max=60))


class ClaimCreateSchema(Schema):
    commitment = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class AssignmentCreateSchema(Schema):
    member_id = fields.String(required=True, validate=member_id)
    commitment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ProgressCreateSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    percent = fields.Integer(required=True, validate=validate.Range(min=0, max=100))


class CompleteSchema(Schema):
    summary = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class CancelSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class EvaluationCreateSchema(Schema):
    rating = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))


class PointsQuery(PageQuery):
    org = fields.String(required=True, validate=org_code)
    quarter = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{4}-Q[1-4]$", error="must look like 2026-Q4")
    )


class PointsItemSchema(Schema):
    member_id = fields.String(required=True)
    points = fields.Integer(required=True)
    rank = fields.Integer(required=True)


PointsPageSchema = page_schema(PointsItemSchema, "PointsPage")


class QuarterPointsSchema(Schema):
    quarter = fields.String(required=True)
    points = fields.Integer(required=True)


class MyPointsSchema(Schema):
    member_id = fields.String(required=True)
    total = fields.Integer(required=True)
    quarters = fields.List(fields.Nested(QuarterPointsSchema), required=True)


class StatsQuery(Schema):
    org = fields.String(required=True, validate=org_code)


class ChildTaskStatsSchema(Schema):
    org_code = fields.String(required=True)
    name = fields.String(required=True)
    total = fields.Integer(required=True)
    done = fields.Integer(required=True, metadata={"description": "completed and evaluated"})
    offered = fields.Integer(required=True, metadata={"description": "done, open and in progress"})
    overdue = fields.Integer(required=True)
    completion_rate = fields.Float(allow_none=True, required=True)


class TaskStatsSchema(Schema):
    org = fields.String(required=True)
    total = fields.Integer(required=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    overdue = fields.Integer(required=True)
    completion_rate = fields.Float(allow_none=True, required=True)
    average_rating = fields.Float(allow_none=True, required=True)
    by_org = fields.List(
        fields.Nested(ChildTaskStatsSchema),
        required=True,
        metadata={"description": "addition: the figures per child org (a county's townships)"},
    )
