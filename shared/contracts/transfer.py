"""Events published by the transfer service.

Every transfer event carries the member, both branches, the route and the status after the
step, so that notify can tell the member, both branches and the approving orgs.
"""

from marshmallow import fields

from shared.contracts.base import EventData


class TransferEvent(EventData):
    transfer_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    from_branch_code = fields.String(required=True)
    to_branch_code = fields.String(required=True)
    route = fields.String(required=True)
    status = fields.String(required=True)
    # The stage now waiting for a decision, if any: who must act next, and by when.
    stage = fields.String(allow_none=True, load_default=None)
    stage_org_code = fields.String(allow_none=True, load_default=None)
    due_at = fields.String(allow_none=True, load_default=None)
    # Issue 21: names where the producer knows them, so notify writes Chinese texts without asking.
    from_branch_name = fields.String(allow_none=True, load_default=None)
    to_branch_name = fields.String(allow_none=True, load_default=None)
    stage_label = fields.String(allow_none=True, load_default=None)  # the Chinese label of `stage`
    stage_org_name = fields.String(allow_none=True, load_default=None)


class DecisionNames(TransferEvent):
    """Who decided, by name, and the org an org department above decided an overdue stage for
    (代办). All optional: events before issue 21 carry none of them."""

    actor_name = fields.String(allow_none=True, load_default=None)
    actor_org_code = fields.String(allow_none=True, load_default=None)
    acted_for_org_code = fields.String(allow_none=True, load_default=None)
    acted_for_org_name = fields.String(allow_none=True, load_default=None)


class TransferRequested(TransferEvent):
    reason = fields.String(required=True)
    applicant = fields.String(required=True)


class StageDecided(DecisionNames):
    decided_stage = fields.String(required=True)
    decided_org_code = fields.String(required=True)
    decision = fields.String(required=True)
    actor = fields.String(required=True)


class StageOverdue(TransferEvent):
    """`stage_org_code` is late; `escalate_to_org_code` is its parent, told to follow up."""

    escalate_to_org_code = fields.String(allow_none=True, load_default=None)


class StageReminder(TransferEvent):
    pass


class Returned(DecisionNames):
    returned_stage = fields.String(required=True)
    reason = fields.String(required=True)
    actor = fields.String(required=True)


class Rejected(DecisionNames):
    rejected_stage = fields.String(required=True)
    reason = fields.String(required=True)
    actor = fields.String(required=True)


class LetterEvent(TransferEvent):
    letter_number = fields.String(required=True)
    issued_on = fields.String(required=True)
    valid_until = fields.String(required=True)
    dues_paid_through = fields.String(allow_none=True, load_default=None)


class Completed(TransferEvent):
    completed_at = fields.String(required=True)


class Cancelled(TransferEvent):
    reason = fields.String(required=True)
    actor = fields.String(required=True)


class Resubmitted(TransferEvent):
    """The applicant revised a returned transfer; the chain starts again at the sending branch."""

    reason = fields.String(allow_none=True, load_default=None)
    actor = fields.String(required=True)


class ReportedIn(TransferEvent):
    actor = fields.String(required=True)


class Failed(TransferEvent):
    reason = fields.String(required=True)


class Urged(TransferEvent):
    """催办: someone asked the holders of the open stage to act; a notice goes to them."""

    urged_stage = fields.String(required=True)
    urged_stage_org_code = fields.String(required=True)
    urged_stage_org_name = fields.String(allow_none=True, load_default=None)
    waiting_since = fields.String(required=True)  # ISO UTC: when the stage began
    note = fields.String(allow_none=True, load_default=None)
    actor = fields.String(required=True)
    actor_name = fields.String(allow_none=True, load_default=None)
    actor_org_code = fields.String(allow_none=True, load_default=None)


REQUESTED = "transfer.requested.v1"
STAGE_DECIDED = "transfer.stage_decided.v1"
STAGE_REMINDER = "transfer.stage_reminder.v1"
STAGE_OVERDUE = "transfer.stage_overdue.v1"
RETURNED = "transfer.returned.v1"
REJECTED = "transfer.rejected.v1"
LETTER_ISSUED = "transfer.letter_issued.v1"
LETTER_EXPIRING = "transfer.letter_expiring.v1"
COMPLETED = "transfer.completed.v1"
CANCELLED = "transfer.cancelled.v1"
EXPIRED = "transfer.expired.v1"
RESUBMITTED = "transfer.resubmitted.v1"
REPORTED_IN = "transfer.reported_in.v1"
FAILED = "transfer.failed.v1"
URGED = "transfer.urged.v1"

# Every event type this service publishes, with the schema of its data.
SCHEMAS: dict[str, EventData] = {
    REQUESTED: TransferRequested(),
    STAGE_DECIDED: StageDecided(),
    STAGE_REMINDER: StageReminder(),
    STAGE_OVERDUE: StageOverdue(),
    RETURNED: Returned(),
    REJECTED: Rejected(),
    LETTER_ISSUED: LetterEvent(),
    LETTER_EXPIRING: LetterEvent(),
    COMPLETED: Completed(),
    CANCELLED: Cancelled(),
    EXPIRED: LetterEvent(),
    RESUBMITTED: Resubmitted(),
    REPORTED_IN: ReportedIn(),
    FAILED: Failed(),
    URGED: Urged(),
}
