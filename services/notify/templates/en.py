"""English message templates, chosen by preference. Same keys and placeholders as zh_CN."""

LABELS: dict[str, dict[str, str]] = {
    "stage": {
        "pending_sending_branch": "sending branch review",
        "pending_township": "township committee approval",
        "pending_county": "county org department approval",
        "pending_receiving_branch": "receiving branch review",
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
}

TEMPLATES: dict[str, tuple[str, str]] = {
    "registration.org_created.v1/parent": (
        "New sub-org {name}",
        "{name} ({code}, {level}) was created under your org. Appoint its leaders and check its details.",
    ),
    "registration.staff_assigned.v1/org": (
        "{name} joins your org's staff",
        "{name} now holds a role in your org and may act for it in nuanliu. Tell the org department if this is wrong.",
    ),
    "registration.staff_removed.v1/org": (
        "{name} no longer holds a role in your org",
        "{name}'s role in your org was removed; they can no longer act for it. Tell the org department if this is wrong.",
    ),
    "registration.member_created.v1/member": (
        "You are registered at {branch_code}",
        "{member_name}, your record is held by branch {branch_code}. Report any outflow before you leave.",
    ),
    "registration.outflow_registered.v1/member": (
        "Outflow to {destination_region} registered",
        "{member_name}, your departure to {destination_region} on {departed_on} is registered "
        "(activity card {activity_card_no}). Check in at the nearest branch when you arrive.",
    ),
    "registration.outflow_registered.v1/branch": (
        "{member_name} left for {destination_region}",
        "{member_name} left on {departed_on} for {destination_region} (card {activity_card_no}, "
        "expected back {expected_return_on}). Keep in touch and update the ledger monthly.",
    ),
    "registration.outflow_registered.v1/township": (
        "Member {member_name} left your area",
        "{member_name} of branch {branch_code} left on {departed_on} for {destination_region} "
        "(card {activity_card_no}). Make sure the branch manages them jointly with the inflow branch.",
    ),
    "registration.inflow_registered.v1/branch": (
        "Incoming member {member_name} registered",
        "{member_name} arrived at your branch {branch_code} on {arrived_on} (relationship held by "
        "{home_branch_code}); contact person {contact_person}. Include them in branch activities.",
    ),
    "registration.inflow_registered.v1/home": (
        "{member_name} registered at {branch_code}",
        "Your member {member_name} registered an inflow at {branch_code} on {arrived_on}. "
        "Stay in touch with that branch.",
    ),
    "registration.inflow_registered.v1/member": (
        "Inflow registered at {branch_code}",
        "{member_name}, you are registered at branch {branch_code} since {arrived_on}; contact person "
        "{contact_person}. Attend its activities.",
    ),
    "registration.member_checked_in.v1/branch": (
        "{member_name} {kind_name} at your branch",
        "{member_name} {kind_name}{station_text} at {branch_code} at {occurred}. Check their six facts in the ledger.",
    ),
    "registration.member_checked_in.v1/home": (
        "Your member {member_name} {kind_name} at {branch_code}",
        "{member_name} {kind_name}{station_text} at {branch_code} at {occurred} and is in contact again. "
        "Update the ledger.",
    ),
    "registration.member_lost_contact.v1/branch": (
        "Lost contact: {member_name}",
        "{member_name} has not been in contact for {lost_contact_days} days (last {last_contact}) and is "
        "marked lost contact. Search for them now and record what you did.",
    ),
    "registration.member_lost_contact.v1/township": (
        "Member lost contact: {member_name}",
        "{member_name} of branch {branch_code} has been out of contact for {lost_contact_days} days. "
        "Make sure the branch searches and reports back.",
    ),
    "registration.relationship_moved.v1/member": (
        "Your relationship moved to {branch_code}",
        "{member_name}, your relationship moved from {from_branch_code} to {branch_code}. "
        "Pay your dues to the new branch.",
    ),
    "registration.relationship_moved.v1/branch": (
        "{member_name} moved to your branch",
        "{member_name}'s relationship moved from {from_branch_code} to your branch {branch_code}. "
        "Assign them to a group.",
    ),
    "registration.relationship_moved.v1/from": (
        "{member_name} moved out",
        "{member_name}'s relationship moved to {branch_code}. Update your ledger.",
    ),
    "transfer.requested.v1/stage": (
        "To do: transfer for {member_name}",
        "{member_name} asks to move from {from_branch_code} to {to_branch_code} ({route_name}); reason: "
        "{reason}. Complete the {stage_name} by {due}.",
    ),
    "transfer.requested.v1/member": (
        "Transfer request submitted",
        "{member_name}, your transfer to {to_branch_code} is with {stage_org_code} for {stage_name}, due {due}.",
    ),
    "transfer.stage_decided.v1/stage": (
        "To do: transfer for {member_name}",
        "{decided_org_code} {decision_name} the {decided_stage_name}. The move of {member_name} from "
        "{from_branch_code} to {to_branch_code} now awaits your {stage_name}, due {due}.",
    ),
    "transfer.stage_decided.v1/member": (
        "Transfer progress: {decided_stage_name} {decision_name}",
        "{member_name}, {decided_org_code} {decision_name} your transfer. Next: {stage_name} at "
        "{stage_org_code}, due {due}.",
    ),
    "transfer.stage_reminder.v1/stage": (
        "Reminder: transfer for {member_name} awaits you",
        "The move of {member_name} from {from_branch_code} to {to_branch_code} still awaits your "
        "{stage_name}. Decide by {due}, or it is escalated.",
    ),
    "transfer.stage_overdue.v1/stage": (
        "Overdue: transfer for {member_name}",
        "The {stage_name} of {member_name}'s transfer passed its limit ({due}). Decide now; "
        "{escalate_to_org_code} has been told.",
    ),
    "transfer.stage_overdue.v1/escalate": (
        "Follow up: {stage_org_code} is overdue",
        "The move of {member_name} from {from_branch_code} to {to_branch_code} is overdue at "
        "{stage_org_code} ({stage_name}, due {due}). Ask them to decide.",
    ),
    "transfer.returned.v1/member": (
        "Transfer returned: please revise",
        "{member_name}, {actor} returned your transfer at the {returned_stage_name}: {reason}. "
        "Revise and resubmit, or cancel it.",
    ),
    "transfer.returned.v1/from": (
        "Transfer of {member_name} returned",
        "The move of {member_name} to {to_branch_code} was returned at the {returned_stage_name}: "
        "{reason}. Help them complete it.",
    ),
    "transfer.rejected.v1/member": (
        "Transfer not approved",
        "{member_name}, your transfer to {to_branch_code} was rejected at the {rejected_stage_name}: "
        "{reason}. Ask branch {from_branch_code} if anything is unclear.",
    ),
    "transfer.rejected.v1/from": (
        "Transfer of {member_name} rejected",
        "The move of {member_name} to {to_branch_code} was rejected at the {rejected_stage_name}: "
        "{reason}. Explain the decision to them.",
    ),
    "transfer.letter_issued.v1/member": (
        "Introduction letter {letter_number} issued",
        "{member_name}, letter {letter_number} is valid until {valid_until}; dues paid through "
        "{dues_paid_through}. Report in at {to_branch_code} before it expires.",
    ),
    "transfer.letter_issued.v1/to": (
        "Expected: {member_name} with a letter",
        "{member_name}'s letter {letter_number} is valid until {valid_until}. Confirm when they report in.",
    ),
    "transfer.letter_expiring.v1/member": (
        "Your letter expires {valid_until}",
        "{member_name}, letter {letter_number} expires on {valid_until}. Report in at {to_branch_code} now.",
    ),
    "transfer.letter_expiring.v1/to": (
        "{member_name}'s letter expires soon",
        "{member_name} has not reported in and letter {letter_number} expires on {valid_until}. Contact them.",
    ),
    "transfer.completed.v1/member": (
        "Transfer completed",
        "{member_name}, your relationship moved from {from_branch_code} to {to_branch_code} ({completed}). "
        "Join the new branch's activities and pay dues there.",
    ),
    "transfer.completed.v1/from": (
        "{member_name} moved out",
        "{member_name} reported in at {to_branch_code}; the transfer is complete ({completed}). Update your ledger.",
    ),
    "transfer.completed.v1/to": (
        "{member_name} joined your branch",
        "{member_name} moved from {from_branch_code} to your branch ({completed}). Assign them to a group.",
    ),
    "transfer.cancelled.v1/member": (
        "Transfer cancelled",
        "{member_name}, your transfer to {to_branch_code} was cancelled by {actor}: {reason}. "
        "Your relationship stays at {from_branch_code}.",
    ),
    "transfer.cancelled.v1/org": (
        "Transfer of {member_name} cancelled",
        "The move of {member_name} from {from_branch_code} to {to_branch_code} was cancelled: {reason}. "
        "Nothing more to do.",
    ),
    "transfer.expired.v1/member": (
        "Your letter expired",
        "{member_name}, letter {letter_number} expired on {valid_until} before you reported in. "
        "Ask {from_branch_code} to issue it again.",
    ),
    "transfer.expired.v1/org": (
        "{member_name}'s letter expired",
        "{member_name}'s letter {letter_number} expired on {valid_until} without a report-in at "
        "{to_branch_code}. The sending branch stays responsible: contact them.",
    ),
    "transfer.resubmitted.v1/stage": (
        "To do: {member_name} resubmitted a transfer",
        "{member_name} revised and resubmitted the move to {to_branch_code} ({reason}). "
        "Complete the {stage_name} by {due}.",
    ),
    "transfer.resubmitted.v1/member": (
        "Transfer resubmitted",
        "{member_name}, your transfer is resubmitted and with {stage_org_code} for {stage_name}, due {due}.",
    ),
    "transfer.reported_in.v1/member": (
        "Reported in at {to_branch_code}",
        "{member_name}, you reported in at {to_branch_code}; your relationship is being moved. "
        "You will be told when it is done.",
    ),
    "transfer.reported_in.v1/from": (
        "{member_name} reported in at the receiving branch",
        "{member_name} reported in at {to_branch_code}; the relationship moves out shortly. Prepare your ledger.",
    ),
    "transfer.failed.v1/member": (
        "Your transfer could not be completed",
        "{member_name}, your transfer could not be completed: {reason}. Contact branch {from_branch_code}.",
    ),
    "transfer.failed.v1/from": (
        "Transfer of {member_name} failed",
        "The move of {member_name} to {to_branch_code} could not be completed: {reason}. Check and retry.",
    ),
    "tasks.task_published.v1/org": (
        "New task to claim: {title}",
        'Task "{title}" ({category}, {capacity} people, {points} points) is open until {due_on}. '
        "Encourage members to claim it.",
    ),
    "tasks.task_claimed.v1/org": (
        'Task "{title}" claimed',
        'Member {member_id} claimed "{title}"{lead_text}; commitment: {commitment}. Follow its progress.',
    ),
    "tasks.task_claimed.v1/member": (
        'You claimed "{title}"',
        'You claimed "{title}"{lead_text}. Keep your commitment and report progress.',
    ),
    "tasks.claim_withdrawn.v1/org": (
        'A member left "{title}"',
        'Member {member_id} withdrew from "{title}". Assign someone else if needed.',
    ),
    "tasks.claim_withdrawn.v1/member": (
        'You left "{title}"',
        'You are no longer on task "{title}".',
    ),
    "tasks.progress_reported.v1/org": (
        '"{title}" at {percent}%',
        'Member {member_id} reports "{title}" at {percent}%: {note}',
    ),
    "tasks.progress_reported.v1/lead": (
        '"{title}" at {percent}%',
        'Your teammate {member_id} reports "{title}" at {percent}%: {note}',
    ),
    "tasks.task_completed.v1/org": (
        'To evaluate: "{title}" completed',
        'The lead completed "{title}": {summary}. Evaluate it to award the points.',
    ),
    "tasks.task_completed.v1/member": (
        '"{title}" completed',
        '"{title}" is completed: {summary}. Points follow the org\'s evaluation.',
    ),
    "tasks.task_evaluated.v1/member": (
        '"{title}" rated {rating}/5',
        '"{title}" received {source_name}: {rating}/5. {award_text}',
    ),
    "tasks.task_evaluated.v1/org": (
        '"{title}" evaluated',
        '"{title}" received {source_name}: {rating}/5.',
    ),
    "tasks.task_overdue.v1/org": (
        'Overdue task: "{title}"',
        '"{title}" passed its due date {due_on} unfinished. Have the claimants close it out.',
    ),
    "tasks.task_overdue.v1/member": (
        'Overdue: your task "{title}"',
        'Your task "{title}" passed its due date {due_on}. Finish it or tell your officer why.',
    ),
    "tasks.task_opened_to_hall.v1/org": (
        '"{title}" is in the open hall',
        'Nobody claimed "{title}"; it is now open to every member of {county_code}. Encourage them to claim it.',
    ),
    "tasks.task_cancelled.v1/member": (
        'Task "{title}" cancelled',
        'Your task "{title}" was cancelled: {reason}. Nothing more to do.',
    ),
    "tasks.task_cancelled.v1/org": (
        'Task "{title}" cancelled',
        '"{title}" was cancelled: {reason}.',
    ),
    "notify.digest/org": (
        "Daily digest: {todo_count} transfers to do, {overdue_count} overdue tasks",
        "{org_code} today. To do: {todo_lines}\nOverdue tasks: {overdue_lines}\nClose them out one by one.",
    ),
}

LEAD_TEXT = {True: " as lead", False: ""}
AWARD_TEXT = "You earned {points} points."
NONE_TEXT = "none"
STATION_TEXT = " at {station_name}"
