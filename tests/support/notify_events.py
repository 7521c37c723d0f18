"""One valid event of every type, and who notify must tell about it (for notify tests)."""

from __future__ import annotations

from typing import Any

from shared.contracts import registration as reg
from shared.contracts import tasks as tsk
from shared.contracts import transfer as trf
from shared.db import new_id


def samples() -> dict[str, tuple[dict[str, Any], set[str]]]:
    """event type → (data, expected recipients as `member:<id>` / `org:<code>`), with fresh ids."""
    u = new_id()[-8:].upper()
    # Ids as the services make them (24 hex digits): a notice that showed one would be caught.
    m, m2, m3 = new_id(), new_id(), new_id()
    prov, county, town, br, br2 = f"P-{u}", f"C-{u}", f"T-{u}", f"B-{u}", f"B2-{u}"
    town2 = f"T2-{u}"
    staff = f"sub-{new_id()}"  # a staff member's subject at the OpenID provider
    path = ["CN", prov, county, town, br]
    member_base = {"member_id": m, "member_name": "王芳", "branch_code": br, "branch_path": path}
    transfer_base = {
        "transfer_id": new_id(),
        "member_id": m,
        "member_name": "王芳",
        "from_branch_code": br,
        "to_branch_code": br2,
        "route": "cross_county",
        "status": "pending_township",
        "stage": "township",
        "stage_org_code": town,
        "due_at": "2026-11-29T10:00:00+00:00",
    }
    letter = {
        **transfer_base,
        "status": "letter_issued",
        "stage": None,
        "stage_org_code": None,
        "due_at": None,
        "letter_number": "JS-2026-0001",
        "issued_on": "2026-11-22",
        "valid_until": "2027-02-20",
        "dues_paid_through": "2026-11",
    }
    task_base = {
        "task_id": new_id(),
        "title": "为独居老人送餐",
        "org_code": town2,
        "officer_id": new_id(),
        "status": "in_progress",
        "claimant_ids": [m, m2],
        "lead_member_id": m,
    }
    return {
        reg.ORG_CREATED: (
            {"code": br, "name": "第一支部", "level": "branch", "parent_code": town, "path": path},
            {f"org:{town}"},
        ),
        reg.MEMBER_CREATED: (dict(member_base), {f"member:{m}"}),
        reg.STAFF_ASSIGNED: (
            {
                "staff_id": new_id(),
                "org_code": br,
                "org_path": path,
                "subject": "s",
                "name": "王书记",
                "role": "branch_secretary",
            },
            {f"org:{br}"},
        ),
        reg.STAFF_REMOVED: (
            {
                "staff_id": new_id(),
                "org_code": br,
                "org_path": path,
                "subject": "s",
                "name": "王书记",
                "role": "branch_secretary",
            },
            {f"org:{br}"},
        ),
        reg.OUTFLOW_REGISTERED: (
            {
                **member_base,
                "outflow_id": new_id(),
                "activity_card_no": "LD-001",
                "destination_region": "上海市浦东新区",
                "departed_on": "2026-11-01",
            },
            {f"member:{m}", f"org:{br}", f"org:{town}"},
        ),
        reg.INFLOW_REGISTERED: (
            {
                **member_base,
                "branch_code": br2,
                "inflow_id": new_id(),
                "home_branch_code": br,
                "arrived_on": "2026-11-03",
                "contact_person": "李强",
            },
            {f"member:{m}", f"org:{br}", f"org:{br2}"},
        ),
        reg.MEMBER_CHECKED_IN: (
            {
                **member_base,
                "branch_code": br2,
                "checkin_id": new_id(),
                "home_branch_code": br,
                "kind": "self",
                "occurred_at": "2026-11-05T08:00:00+00:00",
            },
            {f"org:{br2}", f"org:{br}"},
        ),
        reg.MEMBER_LOST_CONTACT: (
            {**member_base, "last_contact_at": "2026-04-01T08:00:00+00:00", "lost_contact_days": 180},
            {f"org:{br}", f"org:{town}"},
        ),
        # The move is the transfer's completion: transfer.completed tells everyone, once.
        reg.RELATIONSHIP_MOVED: (
            {**member_base, "branch_code": br2, "transfer_id": transfer_base["transfer_id"], "from_branch_code": br},
            set(),
        ),
        reg.MEMBER_UPDATED: (
            {
                **member_base,
                "fields": ["phone", "six_facts.current_address"],
                "actor": staff,
                "actor_name": "李书记",
                "actor_role": "branch_secretary",
            },
            {f"member:{m}"},
        ),
        reg.DUES_RECORDED: (
            {
                **member_base,
                "dues_id": new_id(),
                "paid_through": "2026-12",
                "amount": "36.00",
                "paid_on": "2026-12-05",
                "actor": staff,
                "actor_name": "李书记",
            },
            {f"member:{m}"},
        ),
        reg.MEMBER_RETURNED: (
            {
                **member_base,
                "outflow_id": new_id(),
                "activity_card_no": "LD-001",
                "returned_on": "2026-12-04",
                "destination_region": "310115",
                "destination_region_name": "上海市浦东新区",
                "actor": m,
                "actor_name": "王芳",
            },
            {f"org:{br}"},
        ),
        reg.CONTACT_ATTEMPTED: (
            {
                **member_base,
                "attempt_id": new_id(),
                "method": "phone",
                "result": "not_reached",
                "attempted_at": "2026-12-05T02:00:00+00:00",
                "actor": staff,
                "actor_name": "赵书记",
                "actor_org_code": br2,
                "inflow_branch_code": br2,
            },
            {f"org:{br}"},
        ),
        reg.MEMBER_SUSPENSION_DUE: (
            {
                **member_base,
                "lost_contact_since": "2026-05-01",
                "not_reached_attempts": 3,
                "county_code": county,
                "county_name": "武清区委组织部",
            },
            {f"org:{br}", f"org:{county}"},
        ),
        reg.MEMBER_STANDING_CHANGED: (
            {
                **member_base,
                "standing": "suspended",
                "new_standing": "suspended",
                "previous_standing": "normal",
                "reason": "失联超过六个月",
                "decided_on": "2026-12-06",
                "actor": staff,
                "actor_name": "周部长",
                "actor_org_code": county,
                "actor_org_name": "武清区委组织部",
            },
            {f"member:{m}", f"org:{br}"},
        ),
        reg.COVERAGE_REMINDER_DUE: (
            {
                "branch_code": br,
                "branch_name": "杨村街道第一党支部",
                "branch_path": path,
                "month": "2026-12",
                "mobile_members": 12,
                "not_reached": 2,
                "not_reached_names": ["王芳", "李强"],
            },
            {f"org:{br}"},
        ),
        trf.REQUESTED: (
            {
                **transfer_base,
                "status": "pending_sending_branch",
                "stage": "sending_branch",
                "stage_org_code": br,
                "reason": "工作调动",
                "applicant": m,
            },
            {f"member:{m}", f"org:{br}"},
        ),
        trf.STAGE_DECIDED: (
            {
                **transfer_base,
                "decided_stage": "sending_branch",
                "decided_org_code": br,
                "decision": "approve",
                "actor": staff,
            },
            {f"member:{m}", f"org:{town}"},
        ),
        trf.URGED: (
            {
                **transfer_base,
                "urged_stage": "township",
                "urged_stage_org_code": town,
                "urged_stage_org_name": "杨村街道党工委",
                "waiting_since": "2026-11-26T02:00:00+00:00",
                "note": "请尽快审批",
                "actor": m,
                "actor_name": "王芳",
            },
            {f"org:{town}"},
        ),
        trf.STAGE_REMINDER: (dict(transfer_base), {f"org:{town}"}),
        trf.STAGE_OVERDUE: (
            {**transfer_base, "escalate_to_org_code": county},
            {f"org:{town}", f"org:{county}"},
        ),
        trf.RETURNED: (
            {
                **transfer_base,
                "status": "returned",
                "stage": None,
                "stage_org_code": None,
                "returned_stage": "receiving_branch",
                "reason": "档案不全",
                "actor": staff,
            },
            {f"member:{m}", f"org:{br}"},
        ),
        trf.REJECTED: (
            {
                **transfer_base,
                "status": "rejected",
                "stage": None,
                "stage_org_code": None,
                "rejected_stage": "township",
                "reason": "材料不实",
                "actor": staff,
            },
            {f"member:{m}", f"org:{br}"},
        ),
        trf.LETTER_ISSUED: (dict(letter), {f"member:{m}", f"org:{br2}"}),
        trf.LETTER_EXPIRING: (dict(letter), {f"member:{m}", f"org:{br2}"}),
        trf.COMPLETED: (
            {**letter, "status": "completed", "completed_at": "2026-12-01T09:00:00+00:00"},
            {f"member:{m}", f"org:{br}", f"org:{br2}"},
        ),
        trf.CANCELLED: (
            {**transfer_base, "status": "cancelled", "reason": "不再调动", "actor": m},
            {f"member:{m}", f"org:{br}", f"org:{br2}", f"org:{town}"},
        ),
        trf.EXPIRED: (
            {**letter, "status": "expired"},
            {f"member:{m}", f"org:{br}", f"org:{br2}"},
        ),
        trf.RESUBMITTED: (
            {
                **transfer_base,
                "status": "pending_sending_branch",
                "stage": "sending_branch",
                "stage_org_code": br,
                "reason": "补齐档案",
                "actor": m,
            },
            {f"member:{m}", f"org:{br}"},
        ),
        # The member reported in themself: no echo; the sending branch hears at completion.
        trf.REPORTED_IN: (
            {**letter, "status": "letter_issued", "actor": m},
            set(),
        ),
        trf.FAILED: (
            {**transfer_base, "status": "failed", "reason": "接收支部不存在"},
            {f"member:{m}", f"org:{br}"},
        ),
        tsk.TASK_PUBLISHED: (
            {
                **task_base,
                "status": "open",
                "claimant_ids": [],
                "lead_member_id": None,
                "category": "民生",
                "capacity": 3,
                "due_on": "2026-12-31",
                "points": 10,
            },
            {f"org:{town2}"},
        ),
        tsk.TASK_CLAIMED: (
            {**task_base, "member_id": m2, "lead": False, "commitment": "每周两次"},
            {f"org:{town2}", f"member:{m2}"},
        ),
        tsk.CLAIM_WITHDRAWN: (
            {**task_base, "member_id": m2},
            {f"org:{town2}", f"member:{m2}"},
        ),
        tsk.PROGRESS_REPORTED: (
            {**task_base, "member_id": m2, "percent": 50, "note": "已送餐 10 次"},
            {f"org:{town2}", f"member:{m}"},
        ),
        tsk.TASK_COMPLETED: (
            {**task_base, "status": "completed", "summary": "已完成"},
            {f"org:{town2}", f"member:{m}", f"member:{m2}"},
        ),
        tsk.TASK_EVALUATED: (
            {
                **task_base,
                "status": "evaluated",
                "rating": 5,
                "source": "org",
                "awards": [
                    {"member_id": m, "points": 10},
                    {"member_id": m2, "points": 5},
                    {"member_id": m3, "points": 5},
                ],
            },
            {f"org:{town2}", f"member:{m}", f"member:{m2}", f"member:{m3}"},
        ),
        tsk.TASK_OVERDUE: (
            {**task_base, "due_on": "2026-11-20"},
            {f"org:{town2}", f"member:{m}", f"member:{m2}"},
        ),
        tsk.TASK_OPENED_TO_HALL: (
            {
                **task_base,
                "status": "open",
                "claimant_ids": [],
                "lead_member_id": None,
                "county_code": county,
            },
            {f"org:{town2}", f"org:{county}"},
        ),
        tsk.TASK_CANCELLED: (
            {**task_base, "status": "cancelled", "reason": "需求已满足"},
            {f"org:{town2}", f"member:{m}", f"member:{m2}"},
        ),
    }
