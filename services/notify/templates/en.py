"""English message templates, chosen by preference. Same keys and placeholders as zh_CN."""

from datetime import date, datetime

LABELS: dict[str, dict[str, str]] = {
    "stage": {
        "sending_branch": "sending branch review",
        "township": "township committee approval",
        "county": "county org department approval",
        "receiving_county": "receiving county org department approval",
        "receiving_branch": "receiving branch review",
        "pending_receiving_county": "receiving county org department approval",
        "letter_issued": "report-in with the letter",
    },
    "decision": {"approve": "approved", "reject": "rejected", "return": "returned"},
    "route": {
        "same_county": "same county",
        "cross_county": "cross county",
        "cross_province": "cross province",
    },
    "kind": {
        "self": "checked in",
        "grid_survey": "was recorded by grid survey",
        "transfer": "reported in",
        "qr": "checked in by scan",
    },
    "source": {"org": "the org's rating", "member": "a member's rating", "public": "a resident's rating"},
    "level": {
        "central": "central",
        "province": "province",
        "city": "city",
        "county": "county",
        "township": "township",
        "branch": "branch",
    },
    "role": {
        "branch_secretary": "branch secretary",
        "township_officer": "township officer",
        "org_department": "org department",
    },
    "method": {
        "phone": "by phone",
        "visit": "by a visit",
        "relative": "through relatives",
        "online": "online",
        "letter": "by letter",
        "other": "by other means",
    },
    "result": {"reached": "reached", "not_reached": "not reached"},
    "standing": {"suspended": "suspend the membership", "restored": "restore the membership", "removed": "remove the member"},
    "new_standing": {"normal": "normal", "suspended": "suspended", "removed": "removed"},
    "category": {},
}

FIELD_LABELS: dict[str, str] = {
    "name": "name",
    "gender": "gender",
    "birth_date": "birth date",
    "phone": "mobile number",
    "status": "membership category",
    "six_facts.occupation": "occupation",
    "six_facts.employer": "employer",
    "six_facts.current_address": "current address",
    "six_facts.contact_phone": "contact phone",
}
OTHER_FIELD = "other details"
LIST_SEPARATOR = ", "
AND_MORE = " and others"

ORG_FALLBACK: dict[str, str] = {
    "branch": "the branch",
    "from_branch": "the sending branch",
    "to_branch": "the receiving branch",
    "home_branch": "the home branch",
    "inflow_branch": "the inflow branch",
    "stage_org": "the approving org",
    "decided_org": "the approving org",
    "escalate_org": "the org above",
    "urged_org": "the approving org",
    "acted_for_org": "the approving org",
    "actor_org": "an org department above",
    "org": "the org",
    "county": "the county org department",
    "parent": "the org above",
}
SOMEONE = "a member"
UNKNOWN = "not given"
UNKNOWN_LABEL = "a stage"
UNKNOWN_TIME = "not set"
UNKNOWN_WAIT = "a while"
ELSEWHERE = "elsewhere"
WAIT_DAYS = "{n} days"
WAIT_HOURS = "{n} hours"


def format_date(day: date, today: date) -> str:
    return f"{day:%b} {day.day}" if day.year == today.year else f"{day:%b} {day.day}, {day.year}"


def format_time(moment: datetime, today: date) -> str:
    return f"{format_date(moment.date(), today)} {moment:%H:%M}"


def format_month(year: int, month: int) -> str:
    return f"{date(year, month, 1):%B %Y}"


TEMPLATES: dict[str, tuple[str, str]] = {
    # --- registration -------------------------------------------------------------------
    "registration.org_created.v1/parent": (
        "New sub-org {name}",
        "{name} ({level_name}) was created under your org. Appoint its leaders and check its details.",
    ),
    "registration.staff_assigned.v1/org": (
        "New staff member {name}",
        "{name} is now {role_name} of {org} and may act for it in Nuanliu. If this is wrong, contact the org department above.",
    ),
    "registration.staff_removed.v1/org": (
        "{name} no longer works for your org",
        "{name} is no longer {role_name} of {org} and may no longer act for it. If this is wrong, contact the org department above.",
    ),
    "registration.member_created.v1/member": (
        "You are registered at {branch}",
        "Comrade {member_name}, your record is registered at {branch}. Before leaving, register your outflow.",
    ),
    "registration.outflow_registered.v1/member": (
        "Outflow accepted: {destination}",
        "Comrade {member_name}, your outflow to {destination} (leaving {departed_on}) is registered, activity card "
        "{activity_card_no}. Report in at the nearest branch when you arrive.",
    ),
    "registration.outflow_registered.v1/branch": (
        "{member_name} moved out to {destination}",
        "Member {member_name} left for {destination} on {departed_on} (activity card {activity_card_no}){return_text}. "
        "Keep in touch and update the ledger monthly.",
    ),
    "registration.outflow_registered.v1/township": (
        "Member {member_name} moved out",
        "{member_name} of {branch} left for {destination} on {departed_on}; activity card {activity_card_no} is numbered. "
        "See that the branch manages both ways.",
    ),
    "registration.inflow_registered.v1/branch": (
        "Inflow member {member_name} registered",
        "Member {member_name} joined your branch on {arrived_on} (relationship held by {home_branch}){contact_text}. "
        "Include them in branch life and record it on their activity card.",
    ),
    "registration.inflow_registered.v1/home": (
        "{member_name} registered at {branch}",
        "Your member {member_name} registered as an inflow member at {branch} on {arrived_on}. Keep in touch with that branch.",
    ),
    "registration.inflow_registered.v1/member": (
        "Inflow registered: {branch}",
        "Comrade {member_name}, you registered at {branch} on {arrived_on}{contact_text}. Take part in its branch life.",
    ),
    "registration.member_checked_in.v1/branch": (
        "{member_name} {kind_name} at your branch",
        "Member {member_name} {kind_name} at {branch} on {occurred}{station_text}. Check their six facts in the ledger.",
    ),
    "registration.member_checked_in.v1/home": (
        "Your member {member_name} {kind_name} at {branch}",
        "Member {member_name} {kind_name} at {branch} on {occurred}{station_text}; contact is restored. Update the ledger.",
    ),
    "registration.member_lost_contact.v1/branch": (
        "Lost contact: {member_name}",
        "Member {member_name} has not been in contact for {lost_contact_days} days (last contact {last_contact}). "
        "Search through every channel and record each attempt.",
    ),
    "registration.member_lost_contact.v1/township": (
        "Lost contact in your township: {member_name}",
        "{member_name} of {branch} has not been in contact for {lost_contact_days} days. See that the branch searches and reports.",
    ),
    "registration.member_updated.v1/member": (
        "Your record was updated",
        "Comrade {member_name}, {branch}{actor_text} updated your {fields_text}. If anything is wrong, contact your branch.",
    ),
    "registration.member_updated.v1/branch": (
        "{member_name} updated their record",
        "Member {member_name} updated their {fields_text}. Check the ledger.",
    ),
    "registration.dues_recorded.v1/member": (
        "Dues recorded: paid through {paid_through}",
        "Comrade {member_name}, {branch}{actor_text} recorded your dues of {amount} yuan paid on {paid_on}; "
        "your dues are paid through {paid_through}.",
    ),
    "registration.member_returned.v1/branch": (
        "{member_name} has returned",
        "Mobile member {member_name} returned from {destination} on {returned_on}{actor_text}; the outflow "
        "(activity card {activity_card_no}) is closed. Include them in branch life again.",
    ),
    "registration.member_returned.v1/member": (
        "Return registered",
        "Comrade {member_name}, your return from {destination} on {returned_on} is registered; activity card "
        "{activity_card_no} is closed.",
    ),
    "registration.contact_attempted.v1/branch": (
        "Contact attempt: {member_name} ({result_name})",
        "{actor_party} tried to reach your member {member_name} {method_name} on {attempted}: {result_name}.",
    ),
    "registration.contact_attempted.v1/inflow": (
        "Contact attempt: {member_name} ({result_name})",
        "{actor_party} tried to reach {member_name}, an inflow member of your branch, {method_name} on "
        "{attempted}: {result_name}.",
    ),
    "registration.member_suspension_due.v1/branch": (
        "To handle: {member_name} lost for the full period",
        "Member {member_name} has been out of contact since {lost_contact_since}, with {not_reached_attempts} failed "
        "attempts; the period for suspension has passed. Check the search and report to {county} for a decision.",
    ),
    "registration.member_suspension_due.v1/county": (
        "To decide: {member_name} of {branch} lost for the full period",
        "{member_name} of {branch} has been out of contact since {lost_contact_since}, with {not_reached_attempts} "
        "failed attempts. Decide whether to suspend the membership.",
    ),
    "registration.member_standing_changed.v1/member": (
        "Your standing changed: {new_standing_name}",
        "Comrade {member_name}, {actor_org} decided on {decided_on} to {standing_name}; reason: {reason}. "
        "If you object, contact your branch.",
    ),
    "registration.member_standing_changed.v1/branch": (
        "{member_name}'s standing: {new_standing_name}",
        "{actor_org} decided on {decided_on} to {standing_name} for {member_name} (previously "
        "{previous_standing_name}); reason: {reason}. Update the ledger.",
    ),
    "registration.coverage_reminder_due.v1/branch": (
        "Monthly check: {not_reached} mobile members not reached in {month}",
        "{branch} has {mobile_members} mobile members; {not_reached} were not reached in {month}: {names_text}. "
        "Reach each of them before the month ends and record it.",
    ),
    # --- transfer -----------------------------------------------------------------------
    "transfer.requested.v1/stage": (
        "To approve: {member_name} applies for a transfer",
        "{member_name} applies to move their relationship from {from_branch} to {to_branch} ({route_name}); "
        "reason: {reason}. Complete the {stage_name} by {due}.",
    ),
    "transfer.requested.v1/member": (
        "Transfer application submitted",
        "Comrade {member_name}, your application to move to {to_branch} is submitted; {stage_org} now does the "
        "{stage_name}, due {due}.",
    ),
    "transfer.stage_decided.v1/stage": (
        "To approve: {member_name}'s transfer",
        "{decided_org} {decision_name} it ({decided_stage_name}){acted_for_text}. The transfer of {member_name} from "
        "{from_branch} to {to_branch} now awaits your {stage_name}; act by {due}.",
    ),
    "transfer.stage_decided.v1/member": (
        "Transfer progress: {decided_stage_name} {decision_name}",
        "Comrade {member_name}, {decided_org} {decision_name} your transfer{acted_for_text}. {next_text}",
    ),
    "transfer.stage_decided.v1/acted_for": (
        "{actor_org} acted for your org: {member_name}'s transfer",
        "The {decided_stage_name} of {member_name}'s transfer from {from_branch} to {to_branch} was overdue; "
        "{actor_org}{actor_text} decided it for your org: {decision_name}.",
    ),
    "transfer.urged.v1/stage": (
        "Urged: {member_name}'s transfer awaits you",
        "{actor_party} urges the {urged_stage_name} of {member_name}'s transfer from {from_branch} to "
        "{to_branch}, waiting for {waited}{note_text}. Please act soon{due_text}.",
    ),
    "transfer.stage_reminder.v1/stage": (
        "Reminder: {member_name}'s transfer awaits you",
        "The transfer of {member_name} from {from_branch} to {to_branch} still awaits your {stage_name}. "
        "Act by {due}, or it will be escalated.",
    ),
    "transfer.stage_overdue.v1/stage": (
        "Overdue: {member_name}'s transfer",
        "The {stage_name} of {member_name}'s transfer passed its deadline ({due}). Act now{escalated_text}.",
    ),
    "transfer.stage_overdue.v1/escalate": (
        "Follow up: {stage_org} is overdue",
        "The transfer of {member_name} from {from_branch} to {to_branch} is overdue at {stage_org} ({stage_name}, "
        "due {due}). Urge them to act, or act for them if needed.",
    ),
    "transfer.returned.v1/member": (
        "Transfer returned for changes",
        "Comrade {member_name}, your application was returned at the {returned_stage_name}{actor_text}{acted_for_text}; "
        "reason: {reason}. Revise and resubmit, or withdraw it.",
    ),
    "transfer.returned.v1/from": (
        "{member_name}'s transfer was returned",
        "{member_name}'s application to move to {to_branch} was returned at the {returned_stage_name}{acted_for_text}; "
        "reason: {reason}. Help them complete it.",
    ),
    "transfer.returned.v1/acted_for": (
        "{actor_org} returned a transfer for your org",
        "The {returned_stage_name} of {member_name}'s transfer to {to_branch} was overdue; {actor_org}{actor_text} "
        "returned it for your org; reason: {reason}.",
    ),
    "transfer.rejected.v1/member": (
        "Transfer not approved",
        "Comrade {member_name}, your application to move to {to_branch} was not approved at the "
        "{rejected_stage_name}{acted_for_text}; reason: {reason}. Ask {from_branch} if in doubt.",
    ),
    "transfer.rejected.v1/from": (
        "{member_name}'s transfer was not approved",
        "{member_name}'s application to move to {to_branch} was not approved at the {rejected_stage_name}"
        "{acted_for_text}; reason: {reason}. Explain it to them.",
    ),
    "transfer.rejected.v1/acted_for": (
        "{actor_org} refused a transfer for your org",
        "The {rejected_stage_name} of {member_name}'s transfer to {to_branch} was overdue; {actor_org}{actor_text} "
        "refused it for your org; reason: {reason}.",
    ),
    "transfer.letter_issued.v1/member": (
        "Letter issued: {letter_number}",
        "Comrade {member_name}, your letter of introduction {letter_number} is issued, valid until {valid_until}"
        "{dues_text}. Report in at {to_branch} before then.",
    ),
    "transfer.letter_issued.v1/to": (
        "Expected: {member_name} with a letter",
        "Member {member_name} is moving from {from_branch}; letter {letter_number} is valid until {valid_until}. "
        "Confirm when they report in.",
    ),
    "transfer.letter_expiring.v1/member": (
        "Letter expires on {valid_until}",
        "Comrade {member_name}, your letter {letter_number} expires on {valid_until}. Report in at {to_branch} soon.",
    ),
    "transfer.letter_expiring.v1/to": (
        "{member_name}'s letter is expiring",
        "Member {member_name}'s letter {letter_number} expires on {valid_until} and they have not reported in. Contact them.",
    ),
    "transfer.completed.v1/member": (
        "Transfer completed",
        "Comrade {member_name}, your relationship moved from {from_branch} to {to_branch} ({completed}). "
        "Join your new branch's life and pay dues there monthly.",
    ),
    "transfer.completed.v1/from": (
        "{member_name} has moved out",
        "Member {member_name} reported in at {to_branch}; the transfer is complete ({completed}). Update your ledger.",
    ),
    "transfer.completed.v1/to": (
        "{member_name} joined your branch",
        "Member {member_name} moved from {from_branch} to your branch ({completed}). Assign them to a party group.",
    ),
    "transfer.cancelled.v1/member": (
        "Transfer withdrawn",
        "Comrade {member_name}, your application to move to {to_branch} was withdrawn{actor_text}; reason: {reason}. "
        "Your relationship stays at {from_branch}.",
    ),
    "transfer.cancelled.v1/org": (
        "{member_name}'s transfer withdrawn",
        "The transfer of {member_name} from {from_branch} to {to_branch} was withdrawn; reason: {reason}. Nothing more to do.",
    ),
    "transfer.expired.v1/member": (
        "Letter expired",
        "Comrade {member_name}, your letter {letter_number} expired on {valid_until} before you reported in. "
        "Ask {from_branch} for a new one.",
    ),
    "transfer.expired.v1/org": (
        "{member_name}'s letter expired",
        "Member {member_name}'s letter {letter_number} expired on {valid_until} without a report-in at {to_branch}. "
        "The sending branch is still responsible; contact them.",
    ),
    "transfer.resubmitted.v1/stage": (
        "To approve: {member_name} resubmitted a transfer",
        "{member_name} revised and resubmitted the application to move to {to_branch} ({reason}). "
        "Complete the {stage_name} by {due}.",
    ),
    "transfer.resubmitted.v1/member": (
        "Transfer resubmitted",
        "Comrade {member_name}, your application is resubmitted; {stage_org} now does the {stage_name}, due {due}.",
    ),
    "transfer.reported_in.v1/member": (
        "Reported in at {to_branch}",
        "Comrade {member_name}, you reported in at {to_branch} with your letter{actor_text}; your relationship is "
        "being moved and you will be told when it is done.",
    ),
    "transfer.failed.v1/member": (
        "Transfer could not be completed",
        "Comrade {member_name}, your transfer could not be completed: {reason}. Contact {from_branch}.",
    ),
    "transfer.failed.v1/from": (
        "{member_name}'s transfer failed",
        "{member_name}'s transfer to {to_branch} could not be completed: {reason}. Check and redo it.",
    ),
    # --- tasks --------------------------------------------------------------------------
    "tasks.task_published.v1/org": (
        "New task: {title}",
        "Task \"{title}\" ({category_name}, {capacity} people, {points} points) is published, due {due_on}. "
        "Encourage members to claim it.",
    ),
    "tasks.task_claimed.v1/org": (
        "Task \"{title}\" claimed",
        "Member {member} claimed \"{title}\"{lead_text}; commitment: {commitment}. Follow its progress.",
    ),
    "tasks.task_claimed.v1/member": (
        "You claimed \"{title}\"",
        "You claimed the task \"{title}\"{lead_text}. Work to your commitment and report progress.",
    ),
    "tasks.claim_withdrawn.v1/org": (
        "A member left \"{title}\"",
        "Member {member} withdrew from \"{title}\". Assign someone else if needed.",
    ),
    "tasks.claim_withdrawn.v1/member": (
        "You left \"{title}\"",
        "You no longer work on \"{title}\".",
    ),
    "tasks.progress_reported.v1/org": (
        "\"{title}\" at {percent}%",
        "Member {member} reports \"{title}\" at {percent}%: {note}.",
    ),
    "tasks.progress_reported.v1/lead": (
        "\"{title}\" at {percent}%",
        "Your teammate {member} reports \"{title}\" at {percent}%: {note}.",
    ),
    "tasks.task_completed.v1/org": (
        "To rate: \"{title}\" is complete",
        "Task \"{title}\" was completed by its lead {lead_member}: {summary}. Rate it and confirm the points.",
    ),
    "tasks.task_completed.v1/member": (
        "\"{title}\" is complete",
        "Task \"{title}\" is complete: {summary}. Points follow the org's rating.",
    ),
    "tasks.task_evaluated.v1/member": (
        "\"{title}\" rated {rating} stars",
        "Task \"{title}\" received {source_name} of {rating} stars. {award_text}",
    ),
    "tasks.task_evaluated.v1/org": (
        "\"{title}\" rated",
        "Task \"{title}\" received {source_name} of {rating} stars.",
    ),
    "tasks.task_overdue.v1/org": (
        "Overdue: task \"{title}\"",
        "Task \"{title}\" passed its due date {due_on} unfinished. Urge its members to finish it.",
    ),
    "tasks.task_overdue.v1/member": (
        "Overdue: your task \"{title}\"",
        "Your task \"{title}\" passed its due date {due_on}. Finish it soon or explain the delay.",
    ),
    "tasks.task_opened_to_hall.v1/org": (
        "\"{title}\" opened to the task hall",
        "Nobody claimed \"{title}\"; it is now open to all members of {county}. Encourage members to claim it.",
    ),
    "tasks.task_cancelled.v1/member": (
        "\"{title}\" cancelled",
        "Your task \"{title}\" was cancelled; reason: {reason}. Nothing more to do.",
    ),
    "tasks.task_cancelled.v1/org": (
        "\"{title}\" cancelled",
        "Task \"{title}\" was cancelled; reason: {reason}.",
    ),
    # --- digest -------------------------------------------------------------------------
    "notify.digest/org": (
        "Daily digest: {todo_count} transfers to approve, {overdue_count} overdue tasks",
        "Waiting on {org} today:\nTransfers to approve: {digest_transfers}\nOverdue tasks: {digest_tasks}\n"
        "Please work through them.",
    ),
}

LEAD_TEXT = {True: " as lead", False: ""}
AWARD_TEXT = "You earned {points} points."
NONE_TEXT = "none"
STATION_TEXT = " at {station_name}"
ACTOR_TEXT = " (by {actor})"
SELF_ACTOR = "{member_name} themself"
STAFF_ACTOR = "a staff member"
ACTED_FOR_TEXT = " ({actor_org} acting for {acted_for_org})"
NOTE_TEXT = "; note: {note}"
CONTACT_TEXT = ", contact {contact_person}"
RETURN_TEXT = ", expected back {expected_return_on}"
DUES_TEXT = ", dues paid through {dues_paid_through}"
NEXT_TEXT = "Next: {stage_name} by {stage_org}, due {due}."
NO_NEXT_TEXT = "Every approval is done; the letter follows."
DUE_TEXT = " (due {due})"
ESCALATED_TEXT = "; {escalate_org} has been told"
DIGEST_LINE = "{label} (due {due})"
DIGEST_SEPARATOR = "; "
