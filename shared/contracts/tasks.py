"""Events published by the tasks service.

Every task event names the task, its township and the officer who created it, so notify can
tell the officer and the claimants.
"""

from marshmallow import fields

from shared.contracts.base import EventData


class TaskEvent(EventData):
    task_id = fields.String(required=True)
    title = fields.String(required=True)
    org_code = fields.String(required=True)
    officer_id = fields.String(required=True)
    status = fields.String(required=True)
    claimant_ids = fields.List(fields.String(), load_default=list)
    lead_member_id = fields.String(allow_none=True, load_default=None)
    # The name of the member the event is about (the claimant, the reporter, the lead), when the
    # use case knew it (the member's own token, or registration's masked read of an assigned
    # member), so that a notice can say "张三 认领了…". None when it did not.
    member_name = fields.String(allow_none=True, load_default=None)


class TaskPublished(TaskEvent):
    category = fields.String(required=True)
    capacity = fields.Integer(required=True)
    due_on = fields.String(required=True)
    points = fields.Integer(required=True)


class TaskClaimed(TaskEvent):
    member_id = fields.String(required=True)
    lead = fields.Boolean(required=True)
    commitment = fields.String(allow_none=True, load_default=None)
    assigned_by = fields.String(allow_none=True, load_default=None)


class ClaimWithdrawn(TaskEvent):
    member_id = fields.String(required=True)
    removed_by = fields.String(allow_none=True, load_default=None)


class ProgressReported(TaskEvent):
    member_id = fields.String(required=True)
    percent = fields.Integer(required=True)
    note = fields.String(required=True)


class TaskCompleted(TaskEvent):
    summary = fields.String(required=True)


class Award(EventData):
    member_id = fields.String(required=True)
    points = fields.Integer(required=True)


class TaskEvaluated(TaskEvent):
    rating = fields.Integer(required=True)
    source = fields.String(required=True)
    awards = fields.List(fields.Nested(Award), load_default=list)


class TaskOverdue(TaskEvent):
    due_on = fields.String(required=True)


class TaskOpenedToHall(TaskEvent):
    county_code = fields.String(required=True)


class TaskCancelled(TaskEvent):
    reason = fields.String(allow_none=True, load_default=None)


TASK_PUBLISHED = "tasks.task_published.v1"
TASK_CLAIMED = "tasks.task_claimed.v1"
CLAIM_WITHDRAWN = "tasks.claim_withdrawn.v1"
PROGRESS_REPORTED = "tasks.progress_reported.v1"
TASK_COMPLETED = "tasks.task_completed.v1"
TASK_EVALUATED = "tasks.task_evaluated.v1"
TASK_OVERDUE = "tasks.task_overdue.v1"
TASK_OPENED_TO_HALL = "tasks.task_opened_to_hall.v1"
TASK_CANCELLED = "tasks.task_cancelled.v1"

# Every event type this service publishes, with the schema of its data.
SCHEMAS: dict[str, EventData] = {
    TASK_PUBLISHED: TaskPublished(),
    TASK_CLAIMED: TaskClaimed(),
    CLAIM_WITHDRAWN: ClaimWithdrawn(),
    PROGRESS_REPORTED: ProgressReported(),
    TASK_COMPLETED: TaskCompleted(),
    TASK_EVALUATED: TaskEvaluated(),
    TASK_OVERDUE: TaskOverdue(),
    TASK_OPENED_TO_HALL: TaskOpenedToHall(),
    TASK_CANCELLED: TaskCancelled(),
}
