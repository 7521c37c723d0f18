"""zh-CN message templates (the default locale). Keys are `<event type>/<audience>`.

Each says who, what, by when and what to do next. Placeholders are event data fields plus the
labels and times that `services.notify.templates.render` derives.
"""

LABELS: dict[str, dict[str, str]] = {
    "stage": {
        "pending_sending_branch": "转出支部审核",
        "pending_township": "乡镇（街道）党委审批",
        "pending_county": "县级党委组织部审批",
        "pending_receiving_branch": "接收支部审核",
        "letter_issued": "持介绍信报到",
    },
    "decision": {"approve": "同意", "reject": "不同意", "return": "退回修改"},
    "route": {"same_county": "县内转接", "cross_county": "跨县转接", "cross_province": "跨省转接"},
    "kind": {"self": "报到", "grid_survey": "网格摸底登记", "transfer": "转接报到", "qr": "扫码报到"},
    "source": {"org": "组织评价", "member": "党员评价", "public": "群众评价"},
}

TEMPLATES: dict[str, tuple[str, str]] = {
    # --- registration -------------------------------------------------------------------
    "registration.org_created.v1/parent": (
        "下级组织 {name} 已建立",
        "{name}（{code}，{level}）已在本组织下建立。请为其指定负责人并核对组织信息。",
    ),
    "registration.staff_assigned.v1/org": (
        "本组织新增工作人员 {name}",
        "{name} 已被任命为本组织工作人员，可登录暖流办理本组织事务。如有误请联系上级组织部门。",
    ),
    "registration.staff_removed.v1/org": (
        "{name} 已不再担任本组织工作人员",
        "{name} 的本组织岗位已撤销，不能再以本组织名义办理事务。如有误请联系上级组织部门。",
    ),
    "registration.member_created.v1/member": (
        "您已登记在 {branch_code}",
        "{member_name} 同志，您的党员信息已登记在支部 {branch_code}。外出前请按“凡出必报”登记流出信息。",
    ),
    "registration.outflow_registered.v1/member": (
        "流出登记已受理：{destination_region}",
        "{member_name} 同志，您前往 {destination_region} 的流出登记已受理（{departed_on} 离开），"
        "活动证号 {activity_card_no}。到达后请在就近支部报到。",
    ),
    "registration.outflow_registered.v1/branch": (
        "{member_name} 流出至 {destination_region}",
        "党员 {member_name} 于 {departed_on} 流出至 {destination_region}（活动证 {activity_card_no}，"
        "预计返回 {expected_return_on}）。请保持联系，每月更新台账。",
    ),
    "registration.outflow_registered.v1/township": (
        "辖区党员 {member_name} 流出",
        "支部 {branch_code} 的党员 {member_name} 于 {departed_on} 流出至 {destination_region}，"
        "活动证 {activity_card_no} 已编号。请督促支部做好双向管理。",
    ),
    "registration.inflow_registered.v1/branch": (
        "流入党员 {member_name} 已登记",
        "党员 {member_name} 于 {arrived_on} 流入本支部 {branch_code}（组织关系在 {home_branch_code}），"
        "联系人 {contact_person}。请安排其参加组织生活并在活动证上记录。",
    ),
    "registration.inflow_registered.v1/home": (
        "{member_name} 已在 {branch_code} 登记流入",
        "本支部党员 {member_name} 于 {arrived_on} 在 {branch_code} 登记流入。请与流入地支部保持联系，实行双向管理。",
    ),
    "registration.inflow_registered.v1/member": (
        "流入登记完成：{branch_code}",
        "{member_name} 同志，您已于 {arrived_on} 在支部 {branch_code} 完成流入登记，联系人 {contact_person}。"
        "请按时参加该支部的组织生活。",
    ),
    "registration.member_checked_in.v1/branch": (
        "{member_name} 已在本支部{kind_name}",
        "党员 {member_name} 于 {occurred} 在 {branch_code} {kind_name}{station_text}。请在台账中核对其六个掌握信息。",
    ),
    "registration.member_checked_in.v1/home": (
        "本支部党员 {member_name} 在 {branch_code} {kind_name}",
        "党员 {member_name} 于 {occurred} 在 {branch_code} {kind_name}{station_text}，已恢复联系。请更新其台账记录。",
    ),
    "registration.member_lost_contact.v1/branch": (
        "失联预警：{member_name}",
        "党员 {member_name} 已 {lost_contact_days} 天无联系（最后联系 {last_contact}），已标记为失联。"
        "请立即多方查找，并记录查找情况。",
    ),
    "registration.member_lost_contact.v1/township": (
        "辖区失联党员：{member_name}",
        "支部 {branch_code} 的党员 {member_name} 已 {lost_contact_days} 天无联系，已标记为失联。请督促支部查找并上报。",
    ),
    "registration.relationship_moved.v1/member": (
        "组织关系已转入 {branch_code}",
        "{member_name} 同志，您的组织关系已由 {from_branch_code} 转入 {branch_code}。请向新支部按月交纳党费。",
    ),
    "registration.relationship_moved.v1/branch": (
        "{member_name} 的组织关系已转入本支部",
        "党员 {member_name} 的组织关系已由 {from_branch_code} 转入本支部 {branch_code}。请将其编入党小组。",
    ),
    "registration.relationship_moved.v1/from": (
        "{member_name} 的组织关系已转出",
        "党员 {member_name} 的组织关系已转至 {branch_code}。请更新本支部台账。",
    ),
    # --- transfer -----------------------------------------------------------------------
    "transfer.requested.v1/stage": (
        "待办：{member_name} 申请转接组织关系",
        "{member_name} 申请将组织关系由 {from_branch_code} 转至 {to_branch_code}（{route_name}），理由：{reason}。"
        "请在 {due} 前完成“{stage_name}”。",
    ),
    "transfer.requested.v1/member": (
        "转接申请已提交",
        "{member_name} 同志，您转至 {to_branch_code} 的申请已提交，现由 {stage_org_code} 进行“{stage_name}”，"
        "期限 {due}。",
    ),
    "transfer.stage_decided.v1/stage": (
        "待办：{member_name} 的组织关系转接",
        "{decided_org_code} 已{decision_name}（{decided_stage_name}）。{member_name} 由 {from_branch_code} 转至 "
        "{to_branch_code} 的申请现待您“{stage_name}”，请在 {due} 前办理。",
    ),
    "transfer.stage_decided.v1/member": (
        "转接进度：{decided_stage_name}已{decision_name}",
        "{member_name} 同志，{decided_org_code} 已{decision_name}您的转接申请。下一步：{stage_name}"
        "（{stage_org_code}），期限 {due}。",
    ),
    "transfer.stage_reminder.v1/stage": (
        "催办：{member_name} 的转接待您审批",
        "{member_name} 由 {from_branch_code} 转至 {to_branch_code} 的申请仍待您“{stage_name}”，"
        "请在 {due} 前办理，逾期将上报上级。",
    ),
    "transfer.stage_overdue.v1/stage": (
        "已超时：{member_name} 的转接审批",
        "{member_name} 的组织关系转接在“{stage_name}”已超过期限（{due}）。请立即办理，本事项已上报 {escalate_to_org_code}。",
    ),
    "transfer.stage_overdue.v1/escalate": (
        "督办：{stage_org_code} 审批超时",
        "{member_name} 由 {from_branch_code} 转至 {to_branch_code} 的申请在 {stage_org_code}“{stage_name}”已超时"
        "（期限 {due}）。请督促其尽快办理。",
    ),
    "transfer.returned.v1/member": (
        "转接申请被退回，请修改后重新提交",
        "{member_name} 同志，您的转接申请在“{returned_stage_name}”被 {actor} 退回，原因：{reason}。"
        "请修改后重新提交，或撤回申请。",
    ),
    "transfer.returned.v1/from": (
        "{member_name} 的转接申请被退回",
        "{member_name} 转至 {to_branch_code} 的申请在“{returned_stage_name}”被退回，原因：{reason}。请协助其补齐材料。",
    ),
    "transfer.rejected.v1/member": (
        "转接申请未获同意",
        "{member_name} 同志，您转至 {to_branch_code} 的申请在“{rejected_stage_name}”未获同意，原因：{reason}。"
        "如有疑问请联系支部 {from_branch_code}。",
    ),
    "transfer.rejected.v1/from": (
        "{member_name} 的转接申请未获同意",
        "{member_name} 转至 {to_branch_code} 的申请在“{rejected_stage_name}”未获同意，原因：{reason}。请向本人说明。",
    ),
    "transfer.letter_issued.v1/member": (
        "介绍信已开具：{letter_number}",
        "{member_name} 同志，您的组织关系介绍信 {letter_number} 已开具，有效期至 {valid_until}，"
        "党费交至 {dues_paid_through}。请在有效期内到 {to_branch_code} 报到。",
    ),
    "transfer.letter_issued.v1/to": (
        "待报到：{member_name} 持介绍信转入",
        "党员 {member_name} 的介绍信 {letter_number} 已开具，有效期至 {valid_until}。请在其报到时确认接收。",
    ),
    "transfer.letter_expiring.v1/member": (
        "介绍信即将到期：{valid_until}",
        "{member_name} 同志，您的介绍信 {letter_number} 将于 {valid_until} 到期。请尽快到 {to_branch_code} 报到。",
    ),
    "transfer.letter_expiring.v1/to": (
        "{member_name} 的介绍信即将到期",
        "党员 {member_name} 的介绍信 {letter_number} 将于 {valid_until} 到期，尚未报到。请主动联系本人。",
    ),
    "transfer.completed.v1/member": (
        "组织关系转接已完成",
        "{member_name} 同志，您的组织关系已由 {from_branch_code} 转入 {to_branch_code}（{completed}）。"
        "请参加新支部的组织生活并按月交纳党费。",
    ),
    "transfer.completed.v1/from": (
        "{member_name} 的组织关系已转出",
        "党员 {member_name} 已在 {to_branch_code} 报到，组织关系转接完成（{completed}）。请更新本支部台账。",
    ),
    "transfer.completed.v1/to": (
        "{member_name} 已转入本支部",
        "党员 {member_name} 由 {from_branch_code} 转入本支部，转接完成（{completed}）。请将其编入党小组。",
    ),
    "transfer.cancelled.v1/member": (
        "转接申请已撤回",
        "{member_name} 同志，您转至 {to_branch_code} 的申请已由 {actor} 撤回，原因：{reason}。组织关系仍在 {from_branch_code}。",
    ),
    "transfer.cancelled.v1/org": (
        "{member_name} 的转接申请已撤回",
        "{member_name} 由 {from_branch_code} 转至 {to_branch_code} 的申请已撤回，原因：{reason}。无需再办理。",
    ),
    "transfer.expired.v1/member": (
        "介绍信已过期",
        "{member_name} 同志，您的介绍信 {letter_number} 已于 {valid_until} 过期，尚未报到。请联系 {from_branch_code} 重新开具。",
    ),
    "transfer.expired.v1/org": (
        "{member_name} 的介绍信已过期",
        "党员 {member_name} 的介绍信 {letter_number} 已于 {valid_until} 过期，未到 {to_branch_code} 报到。"
        "转出支部仍负管理责任，请联系本人。",
    ),
    "transfer.resubmitted.v1/stage": (
        "待办：{member_name} 重新提交转接申请",
        "{member_name} 已修改并重新提交转至 {to_branch_code} 的申请（{reason}）。请在 {due} 前完成“{stage_name}”。",
    ),
    "transfer.resubmitted.v1/member": (
        "转接申请已重新提交",
        "{member_name} 同志，您的转接申请已重新提交，现由 {stage_org_code} 进行“{stage_name}”，期限 {due}。",
    ),
    "transfer.reported_in.v1/member": (
        "已在 {to_branch_code} 报到",
        "{member_name} 同志，您已在 {to_branch_code} 持介绍信报到，组织关系正在转入，完成后另行通知。",
    ),
    "transfer.reported_in.v1/from": (
        "{member_name} 已在接收支部报到",
        "党员 {member_name} 已在 {to_branch_code} 报到，组织关系即将转出。请准备更新本支部台账。",
    ),
    "transfer.failed.v1/member": (
        "转接办理出现问题",
        "{member_name} 同志，您的组织关系转接未能完成：{reason}。请联系支部 {from_branch_code}。",
    ),
    "transfer.failed.v1/from": (
        "{member_name} 的转接未能完成",
        "{member_name} 转至 {to_branch_code} 的组织关系转接未能完成：{reason}。请核查后重新办理。",
    ),
    # --- tasks --------------------------------------------------------------------------
    "tasks.task_published.v1/org": (
        "新任务可领办：{title}",
        "任务“{title}”（{category}，{capacity} 人，{points} 积分）已发布，截止 {due_on}。请动员辖区党员认领。",
    ),
    "tasks.task_claimed.v1/org": (
        "任务“{title}”已被认领",
        "党员 {member_id} 认领了“{title}”{lead_text}，承诺：{commitment}。请跟进办理进度。",
    ),
    "tasks.task_claimed.v1/member": (
        "您已领办“{title}”",
        "您已领办任务“{title}”{lead_text}。请按承诺推进并及时报告进度。",
    ),
    "tasks.claim_withdrawn.v1/org": (
        "任务“{title}”有党员退出",
        "党员 {member_id} 已退出任务“{title}”。如需补充人员请重新指派。",
    ),
    "tasks.claim_withdrawn.v1/member": (
        "您已退出任务“{title}”",
        "您已不再承担任务“{title}”。",
    ),
    "tasks.progress_reported.v1/org": (
        "“{title}”进度 {percent}%",
        "党员 {member_id} 报告“{title}”进度 {percent}%：{note}",
    ),
    "tasks.progress_reported.v1/lead": (
        "“{title}”进度 {percent}%",
        "同组党员 {member_id} 报告“{title}”进度 {percent}%：{note}",
    ),
    "tasks.task_completed.v1/org": (
        "待评价：“{title}”已完成",
        "任务“{title}”已由牵头人完成：{summary}。请进行组织评价并核定积分。",
    ),
    "tasks.task_completed.v1/member": (
        "“{title}”已完成",
        "任务“{title}”已完成：{summary}。等待组织评价后发放积分。",
    ),
    "tasks.task_evaluated.v1/member": (
        "“{title}”已评价（{rating} 星）",
        "任务“{title}”获得{source_name} {rating} 星。{award_text}",
    ),
    "tasks.task_evaluated.v1/org": (
        "“{title}”已评价",
        "任务“{title}”获得{source_name} {rating} 星。",
    ),
    "tasks.task_overdue.v1/org": (
        "已超期：任务“{title}”",
        "任务“{title}”已超过截止日期 {due_on} 仍未完成。请督促领办党员销号。",
    ),
    "tasks.task_overdue.v1/member": (
        "已超期：您领办的“{title}”",
        "您领办的任务“{title}”已超过截止日期 {due_on}。请尽快完成或向组织说明情况。",
    ),
    "tasks.task_opened_to_hall.v1/org": (
        "任务“{title}”已进入揭榜大厅",
        "任务“{title}”无人认领，已向 {county_code} 全县党员开放。请动员党员认领。",
    ),
    "tasks.task_cancelled.v1/member": (
        "任务“{title}”已取消",
        "您领办的任务“{title}”已取消，原因：{reason}。无需继续办理。",
    ),
    "tasks.task_cancelled.v1/org": (
        "任务“{title}”已取消",
        "任务“{title}”已取消，原因：{reason}。",
    ),
    # --- digest -------------------------------------------------------------------------
    "notify.digest/org": (
        "每日待办汇总：{todo_count} 件转接待办，{overdue_count} 项任务超期",
        "{org_code} 今日待办：{todo_lines}\n超期任务：{overdue_lines}\n请逐项办理销号。",
    ),
}

LEAD_TEXT = {True: "（牵头人）", False: ""}
AWARD_TEXT = "您获得 {points} 积分。"
NONE_TEXT = "无"
# Where a check-in by scan happened: the station's name (流动党员之家, 驿站, 服务站).
STATION_TEXT = "（{station_name}）"
