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
    m, m2, m3 = f"m-{u}-1", f"m-{u}-2", f"m-{u}-3"
    prov, county, town, br, br2 = f"P-{u}", f"C-{u}", f"T-{u}", f"B-{u}", f"B2-{u}"
    town2 = f"T2-{u}"
    path = ["CN", prov, county, town, br]
    member_base = {"member_id": m, "member_name": "王芳", "branch_code": br, "branch_path": path}
    transfer_base = {
        "transfer_id": f"t-{u}",
        "member_id": m,
        "member_name": "王芳",
        "from_branch_code": br,
        "to_branch_code": br2,
        "route": "cross_county",
        "status": "pending_township",
        "stage": "pending_township",
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
        "task_id": f"k-{u}",
        "title": "为独居老人送餐",
        "org_code": town2,
        "officer_id": f"o-{u}",
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
        reg.RELATIONSHIP_MOVED: (
            {**member_base, "branch_code": br2, "transfer_id": f"t-{u}", "from_branch_code": br},
            {f"member:{m}", f"org:{br}", f"org:{br2}"},
        ),
        trf.REQUESTED: (
            {
                **transfer_base,
                "status": "pending_sending_branch",
                "stage": "pending_sending_branch",
                "stage_org_code": br,
                "reason": "工作调动",
                "applicant": m,
            },
            {f"member:{m}", f"org:{br}"},
        ),
        trf.STAGE_DECIDED: (
            {
                **transfer_base,
                "decided_stage": "pending_sending_branch",
                "decided_org_code": br,
                "decision": "approve",
                "actor": f"s-{u}",
            },
            {f"member:{m}", f"org:{town}"},
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
                "returned_stage": "pending_receiving_branch",
                "reason": "档案不全",
                "actor": f"s2-{u}",
            },
            {f"member:{m}", f"org:{br}"},
        ),
        trf.REJECTED: (
            {
                **transfer_base,
                "status": "rejected",
                "stage": None,
                "stage_org_code": None,
                "rejected_stage": "pending_township",
                "reason": "材料不实",
                "actor": f"o-{u}",
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
                "stage": "pending_sending_branch",
                "stage_org_code": br,
                "reason": "补齐档案",
                "actor": m,
            },
            {f"member:{m}", f"org:{br}"},
        ),
        trf.REPORTED_IN: (
            {**letter, "status": "letter_issued", "actor": m},
            {f"member:{m}", f"org:{br}"},
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
