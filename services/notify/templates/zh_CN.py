"""zh-CN message templates (the default locale). Keys are `<event type>/<audience>`.

Each says who, what, by when and what to do next, naming people, orgs and stages by name and
label. Placeholders are event data fields plus what `services.notify.rendering` derives: org
names (`{branch}`, `{from_branch}`, `{to_branch}`, `{stage_org}`, ...), labels (`{stage_name}`,
`{decision_name}`, ...), China-time dates and times, and optional clauses (`*_text`) that are
empty when the event does not carry what they tell.
"""

from datetime import date, datetime

LABELS: dict[str, dict[str, str]] = {
    # A stage by its key (`township`) or its status (`pending_township`): events carry either.
    "stage": {
        "sending_branch": "转出支部审核",
        "township": "乡镇（街道）党委审批",
        "county": "县级党委组织部审批",
        "receiving_county": "接收方县级党委组织部审批",
        "receiving_branch": "接收支部审核",
        "pending_receiving_county": "接收方县级党委组织部审批",
        "letter_issued": "持介绍信报到",
    },
    "decision": {"approve": "同意", "reject": "不同意", "return": "退回修改"},
    "route": {"same_county": "县内转接", "cross_county": "跨县转接", "cross_province": "跨省转接"},
    "kind": {"self": "报到", "grid_survey": "网格摸底登记", "transfer": "转接报到", "qr": "扫码报到"},
    "source": {"org": "组织评价", "member": "党员评价", "public": "群众评价"},
    "level": {
        "central": "中央",
        "province": "省级",
        "city": "市级",
        "county": "县级",
        "township": "乡镇（街道）级",
        "branch": "支部",
    },
    "role": {"branch_secretary": "支部书记", "township_officer": "乡镇（街道）党务干部", "org_department": "组织部门"},
    "method": {
        "phone": "电话",
        "visit": "上门走访",
        "relative": "联系亲属",
        "online": "网络联系",
        "letter": "信函",
        "other": "其他方式",
    },
    "result": {"reached": "已联系上", "not_reached": "未联系上"},
    "standing": {"suspended": "停止党籍", "restored": "恢复党籍", "removed": "除名"},
    "new_standing": {"normal": "正常", "suspended": "停止党籍", "removed": "已除名"},
    "category": {},
}

# The changed fields of a member record (registration.member_updated.v1), never their values.
FIELD_LABELS: dict[str, str] = {
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生日期",
    "phone": "手机号码",
    "status": "党员类别",
    "six_facts.occupation": "职业",
    "six_facts.employer": "工作单位",
    "six_facts.current_address": "现居住地",
    "six_facts.contact_phone": "联系电话",
}
OTHER_FIELD = "其他信息"
LIST_SEPARATOR = "、"
AND_MORE = "等"

# When an event names an org by code only and the directory did not know it.
ORG_FALLBACK: dict[str, str] = {
    "branch": "所在支部",
    "from_branch": "转出支部",
    "to_branch": "接收支部",
    "home_branch": "原支部",
    "inflow_branch": "流入地支部",
    "stage_org": "审批组织",
    "decided_org": "审批组织",
    "escalate_org": "上级组织",
    "urged_org": "审批组织",
    "acted_for_org": "原审批组织",
    "actor_org": "上级组织部门",
    "org": "相关组织",
    "county": "县级党委组织部",
    "parent": "上级组织",
}
SOMEONE = "一名党员"
UNKNOWN = "未填写"
UNKNOWN_LABEL = "相关环节"
UNKNOWN_TIME = "未定"
UNKNOWN_WAIT = "一段时间"
ELSEWHERE = "外地"
WAIT_DAYS = "{n} 天"
WAIT_HOURS = "{n} 小时"


def format_date(day: date, today: date) -> str:
    return f"{day.month}月{day.day}日" if day.year == today.year else f"{day.year}年{day.month}月{day.day}日"


def format_time(moment: datetime, today: date) -> str:
    return f"{format_date(moment.date(), today)} {moment:%H:%M}"


def format_month(year: int, month: int) -> str:
    return f"{year}年{month}月"


TEMPLATES: dict[str, tuple[str, str]] = {
    # --- registration -------------------------------------------------------------------
    "registration.org_created.v1/parent": (
        "下级组织“{name}”已建立",
        "{name}（{level_name}）已在本组织下建立。请为其指定负责人并核对组织信息。",
    ),
    "registration.staff_assigned.v1/org": (
        "本组织新增工作人员{name}",
        "{name}已被任命为{org}的{role_name}，可登录暖流办理本组织事务。如有误请联系上级组织部门。",
    ),
    "registration.staff_removed.v1/org": (
        "{name}已不再担任本组织工作人员",
        "{name}在{org}的{role_name}岗位已撤销，不能再以本组织名义办理事务。如有误请联系上级组织部门。",
    ),
    "registration.member_created.v1/member": (
        "您已登记在{branch}",
        "{member_name}同志，您的党员信息已登记在{branch}。外出前请按“凡出必报”登记流出信息。",
    ),
    "registration.outflow_registered.v1/member": (
        "流出登记已受理：{destination}",
        "{member_name}同志，您前往{destination}的流出登记已受理（{departed_on}离开），"
        "活动证号 {activity_card_no}。到达后请在就近支部报到。",
    ),
    "registration.outflow_registered.v1/branch": (
        "{member_name}流出至{destination}",
        "党员{member_name}于{departed_on}流出至{destination}（活动证 {activity_card_no}）{return_text}。"
        "请保持联系，每月更新台账。",
    ),
    "registration.outflow_registered.v1/township": (
        "辖区党员{member_name}流出",
        "{branch}的党员{member_name}于{departed_on}流出至{destination}，活动证 {activity_card_no} 已编号。"
        "请督促支部做好双向管理。",
    ),
    "registration.inflow_registered.v1/branch": (
        "流入党员{member_name}已登记",
        "党员{member_name}于{arrived_on}流入本支部（组织关系在{home_branch}）{contact_text}。"
        "请安排其参加组织生活并在活动证上记录。",
    ),
    "registration.inflow_registered.v1/home": (
        "{member_name}已在{branch}登记流入",
        "本支部党员{member_name}于{arrived_on}在{branch}登记流入。请与流入地支部保持联系，实行双向管理。",
    ),
    "registration.inflow_registered.v1/member": (
        "流入登记完成：{branch}",
        "{member_name}同志，您已于{arrived_on}在{branch}完成流入登记{contact_text}。请按时参加该支部的组织生活。",
    ),
    "registration.member_checked_in.v1/branch": (
        "{member_name}已在本支部{kind_name}",
        "党员{member_name}于{occurred}在{branch}{kind_name}{station_text}。请在台账中核对其六个掌握信息。",
    ),
    "registration.member_checked_in.v1/home": (
        "本支部党员{member_name}在{branch}{kind_name}",
        "党员{member_name}于{occurred}在{branch}{kind_name}{station_text}，已恢复联系。请更新其台账记录。",
    ),
    "registration.member_lost_contact.v1/branch": (
        "失联预警：{member_name}",
        "党员{member_name}已 {lost_contact_days} 天无联系（最后联系 {last_contact}），已标记为失联。"
        "请立即多方查找，并记录每次联系情况。",
    ),
    "registration.member_lost_contact.v1/township": (
        "辖区失联党员：{member_name}",
        "{branch}的党员{member_name}已 {lost_contact_days} 天无联系，已标记为失联。请督促支部查找并上报。",
    ),
    "registration.member_updated.v1/member": (
        "您的党员信息已更新",
        "{member_name}同志，{branch}{actor_text}更新了您的{fields_text}。如有不符请联系支部。",
    ),
    "registration.member_updated.v1/branch": (
        "{member_name}更新了本人信息",
        "党员{member_name}更新了本人的{fields_text}。请在台账中核对。",
    ),
    "registration.dues_recorded.v1/member": (
        "党费已登记：交至{paid_through}",
        "{member_name}同志，{branch}{actor_text}已登记您于{paid_on}交纳的党费 {amount} 元，"
        "党费已交至{paid_through}。",
    ),
    "registration.member_returned.v1/branch": (
        "{member_name}已返回",
        "流动党员{member_name}已于{returned_on}从{destination}返回{actor_text}，流出登记（活动证 {activity_card_no}）"
        "已结束。请安排其参加本支部组织生活。",
    ),
    "registration.member_returned.v1/member": (
        "返回登记已完成",
        "{member_name}同志，您从{destination}返回的登记已完成（{returned_on}），活动证 {activity_card_no} 已收回。"
        "请参加本支部的组织生活。",
    ),
    "registration.contact_attempted.v1/branch": (
        "联系记录：{member_name}（{result_name}）",
        "{actor_party}于{attempted}以{method_name}联系本支部党员{member_name}，结果：{result_name}。",
    ),
    "registration.contact_attempted.v1/inflow": (
        "联系记录：{member_name}（{result_name}）",
        "{actor_party}于{attempted}以{method_name}联系在本支部流入的党员{member_name}，结果：{result_name}。",
    ),
    "registration.member_suspension_due.v1/branch": (
        "待处理：{member_name}失联已满期限",
        "党员{member_name}自{lost_contact_since}起失去联系，已 {not_reached_attempts} 次联系未果，"
        "已达停止党籍的处置期限。请核实查找情况，报{county}决定。",
    ),
    "registration.member_suspension_due.v1/county": (
        "待决定：{branch}党员{member_name}失联已满期限",
        "{branch}的党员{member_name}自{lost_contact_since}起失去联系，已 {not_reached_attempts} 次联系未果。"
        "请按规定决定是否停止其党籍。",
    ),
    "registration.member_standing_changed.v1/member": (
        "您的党籍状态已变更：{new_standing_name}",
        "{member_name}同志，{actor_org}已于{decided_on}决定{standing_name}，原因：{reason}。"
        "如有异议请联系所在支部。",
    ),
    "registration.member_standing_changed.v1/branch": (
        "{member_name}的党籍状态：{new_standing_name}",
        "{actor_org}已于{decided_on}决定对党员{member_name} {standing_name}（原为{previous_standing_name}），"
        "原因：{reason}。请更新台账。",
    ),
    "registration.coverage_reminder_due.v1/branch": (
        "每月一摸排：{month}尚有 {not_reached} 名流动党员未联系",
        "{branch}共有流动党员 {mobile_members} 名，{month}尚未联系上 {not_reached} 名：{names_text}。"
        "请在月底前逐一联系并记录。",
    ),
    # --- transfer -----------------------------------------------------------------------
    "transfer.requested.v1/stage": (
        "请审批：{member_name}申请转接组织关系",
        "{member_name}申请将组织关系由{from_branch}转至{to_branch}（{route_name}），理由：{reason}。"
        "请在{due}前完成“{stage_name}”。",
    ),
    "transfer.requested.v1/member": (
        "转接申请已提交",
        "{member_name}同志，您转至{to_branch}的申请已提交，现由{stage_org}进行“{stage_name}”，期限 {due}。",
    ),
    "transfer.stage_decided.v1/stage": (
        "请审批：{member_name}的组织关系转接",
        "{decided_org}已{decision_name}（{decided_stage_name}）{acted_for_text}。{member_name}由{from_branch}"
        "转至{to_branch}的申请现待您“{stage_name}”，请在{due}前办理。",
    ),
    "transfer.stage_decided.v1/member": (
        "转接进度：“{decided_stage_name}”已{decision_name}",
        "{member_name}同志，{decided_org}已{decision_name}您的转接申请{acted_for_text}。{next_text}",
    ),
    "transfer.stage_decided.v1/acted_for": (
        "{actor_org}已代本组织办理：{member_name}的转接",
        "{member_name}由{from_branch}转至{to_branch}的申请在“{decided_stage_name}”已超期，"
        "{actor_org}{actor_text}代本组织办理：{decision_name}。",
    ),
    "transfer.urged.v1/stage": (
        "催办：{member_name}的转接待您审批",
        "{actor_party}催办：{member_name}由{from_branch}转至{to_branch}的申请在“{urged_stage_name}”"
        "已等待 {waited}{note_text}。请尽快办理{due_text}。",
    ),
    "transfer.stage_reminder.v1/stage": (
        "提醒：{member_name}的转接待您审批",
        "{member_name}由{from_branch}转至{to_branch}的申请仍待您“{stage_name}”，请在{due}前办理，逾期将上报上级。",
    ),
    "transfer.stage_overdue.v1/stage": (
        "已超时：{member_name}的转接审批",
        "{member_name}的组织关系转接在“{stage_name}”已超过期限（{due}）。请立即办理{escalated_text}。",
    ),
    "transfer.stage_overdue.v1/escalate": (
        "督办：{stage_org}审批超时",
        "{member_name}由{from_branch}转至{to_branch}的申请在{stage_org}“{stage_name}”已超时（期限 {due}）。"
        "请督促其尽快办理，必要时可代为办理。",
    ),
    "transfer.returned.v1/member": (
        "转接申请被退回，请修改后重新提交",
        "{member_name}同志，您的转接申请在“{returned_stage_name}”被退回{actor_text}{acted_for_text}，原因：{reason}。"
        "请修改后重新提交，或撤回申请。",
    ),
    "transfer.returned.v1/from": (
        "{member_name}的转接申请被退回",
        "{member_name}转至{to_branch}的申请在“{returned_stage_name}”被退回{acted_for_text}，原因：{reason}。"
        "请协助其补齐材料。",
    ),
    "transfer.returned.v1/acted_for": (
        "{actor_org}已代本组织退回：{member_name}的转接",
        "{member_name}转至{to_branch}的申请在“{returned_stage_name}”已超期，{actor_org}{actor_text}"
        "代本组织退回，原因：{reason}。",
    ),
    "transfer.rejected.v1/member": (
        "转接申请未获同意",
        "{member_name}同志，您转至{to_branch}的申请在“{rejected_stage_name}”未获同意{acted_for_text}，原因：{reason}。"
        "如有疑问请联系{from_branch}。",
    ),
    "transfer.rejected.v1/from": (
        "{member_name}的转接申请未获同意",
        "{member_name}转至{to_branch}的申请在“{rejected_stage_name}”未获同意{acted_for_text}，原因：{reason}。"
        "请向本人说明。",
    ),
    "transfer.rejected.v1/acted_for": (
        "{actor_org}已代本组织办理：{member_name}的转接未获同意",
        "{member_name}转至{to_branch}的申请在“{rejected_stage_name}”已超期，{actor_org}{actor_text}"
        "代本组织决定不同意，原因：{reason}。",
    ),
    "transfer.letter_issued.v1/member": (
        "介绍信已开具：{letter_number}",
        "{member_name}同志，您的组织关系介绍信 {letter_number} 已开具，有效期至{valid_until}{dues_text}。"
        "请在有效期内到{to_branch}报到。",
    ),
    "transfer.letter_issued.v1/to": (
        "待报到：{member_name}持介绍信转入",
        "党员{member_name}由{from_branch}转入，介绍信 {letter_number} 已开具，有效期至{valid_until}。"
        "请在其报到时确认接收。",
    ),
    "transfer.letter_expiring.v1/member": (
        "介绍信即将到期：{valid_until}",
        "{member_name}同志，您的介绍信 {letter_number} 将于{valid_until}到期。请尽快到{to_branch}报到。",
    ),
    "transfer.letter_expiring.v1/to": (
        "{member_name}的介绍信即将到期",
        "党员{member_name}的介绍信 {letter_number} 将于{valid_until}到期，尚未报到。请主动联系本人。",
    ),
    "transfer.completed.v1/member": (
        "组织关系转接已完成",
        "{member_name}同志，您的组织关系已由{from_branch}转入{to_branch}（{completed}）。"
        "请参加新支部的组织生活并按月交纳党费。",
    ),
    "transfer.completed.v1/from": (
        "{member_name}的组织关系已转出",
        "党员{member_name}已在{to_branch}报到，组织关系转接完成（{completed}）。请更新本支部台账。",
    ),
    "transfer.completed.v1/to": (
        "{member_name}已转入本支部",
        "党员{member_name}由{from_branch}转入本支部，转接完成（{completed}）。请将其编入党小组。",
    ),
    "transfer.cancelled.v1/member": (
        "转接申请已撤回",
        "{member_name}同志，您转至{to_branch}的申请已撤回{actor_text}，原因：{reason}。组织关系仍在{from_branch}。",
    ),
    "transfer.cancelled.v1/org": (
        "{member_name}的转接申请已撤回",
        "{member_name}由{from_branch}转至{to_branch}的申请已撤回，原因：{reason}。无需再办理。",
    ),
    "transfer.expired.v1/member": (
        "介绍信已过期",
        "{member_name}同志，您的介绍信 {letter_number} 已于{valid_until}过期，尚未报到。请联系{from_branch}重新开具。",
    ),
    "transfer.expired.v1/org": (
        "{member_name}的介绍信已过期",
        "党员{member_name}的介绍信 {letter_number} 已于{valid_until}过期，未到{to_branch}报到。"
        "转出支部仍负管理责任，请联系本人。",
    ),
    "transfer.resubmitted.v1/stage": (
        "请审批：{member_name}重新提交转接申请",
        "{member_name}已修改并重新提交转至{to_branch}的申请（{reason}）。请在{due}前完成“{stage_name}”。",
    ),
    "transfer.resubmitted.v1/member": (
        "转接申请已重新提交",
        "{member_name}同志，您的转接申请已重新提交，现由{stage_org}进行“{stage_name}”，期限 {due}。",
    ),
    "transfer.reported_in.v1/member": (
        "已在{to_branch}报到",
        "{member_name}同志，您已在{to_branch}持介绍信报到{actor_text}，组织关系正在转入，完成后另行通知。",
    ),
    "transfer.failed.v1/member": (
        "转接办理出现问题",
        "{member_name}同志，您的组织关系转接未能完成：{reason}。请联系{from_branch}。",
    ),
    "transfer.failed.v1/from": (
        "{member_name}的转接未能完成",
        "{member_name}转至{to_branch}的组织关系转接未能完成：{reason}。请核查后重新办理。",
    ),
    # --- tasks --------------------------------------------------------------------------
    "tasks.task_published.v1/org": (
        "新任务可领办：{title}",
        "任务“{title}”（{category_name}，{capacity} 人，{points} 积分）已发布，截止{due_on}。请动员辖区党员认领。",
    ),
    "tasks.task_claimed.v1/org": (
        "任务“{title}”已被认领",
        "{member}认领了“{title}”{lead_text}，承诺：{commitment}。请跟进办理进度。",
    ),
    "tasks.task_claimed.v1/member": (
        "您已领办“{title}”",
        "您已领办任务“{title}”{lead_text}。请按承诺推进并及时报告进度。",
    ),
    "tasks.claim_withdrawn.v1/org": (
        "任务“{title}”有党员退出",
        "{member}已退出任务“{title}”。如需补充人员请重新指派。",
    ),
    "tasks.claim_withdrawn.v1/member": (
        "您已退出任务“{title}”",
        "您已不再承担任务“{title}”。",
    ),
    "tasks.progress_reported.v1/org": (
        "“{title}”进度 {percent}%",
        "{member}报告“{title}”进度 {percent}%：{note}。",
    ),
    "tasks.progress_reported.v1/lead": (
        "“{title}”进度 {percent}%",
        "同组的{member}报告“{title}”进度 {percent}%：{note}。",
    ),
    "tasks.task_completed.v1/org": (
        "待评价：“{title}”已完成",
        "任务“{title}”已由牵头人{lead_member}完成：{summary}。请进行组织评价并核定积分。",
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
        "任务“{title}”已超过截止日期{due_on}仍未完成。请督促领办党员销号。",
    ),
    "tasks.task_overdue.v1/member": (
        "已超期：您领办的“{title}”",
        "您领办的任务“{title}”已超过截止日期{due_on}。请尽快完成或向组织说明情况。",
    ),
    "tasks.task_opened_to_hall.v1/org": (
        "任务“{title}”已进入揭榜大厅",
        "任务“{title}”无人认领，已向{county}全县党员开放。请动员党员认领。",
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
        "每日待办汇总：{todo_count} 件转接待审批，{overdue_count} 项任务超期",
        "{org}今日待办：\n转接待审批：{digest_transfers}\n超期任务：{digest_tasks}\n请逐项办理销号。",
    ),
}

LEAD_TEXT = {True: "（牵头人）", False: ""}
AWARD_TEXT = "您获得 {points} 积分。"
NONE_TEXT = "无"
# Where a check-in by scan happened: the station's name (流动党员之家, 驿站, 服务站).
STATION_TEXT = "（{station_name}）"
ACTOR_TEXT = "（经办人：{actor}）"
SELF_ACTOR = "{member_name}本人"
STAFF_ACTOR = "工作人员"
ACTED_FOR_TEXT = "（由{actor_org}代{acted_for_org}办理）"
NOTE_TEXT = "，留言：{note}"
CONTACT_TEXT = "，联系人 {contact_person}"
RETURN_TEXT = "，预计{expected_return_on}返回"
DUES_TEXT = "，党费交至{dues_paid_through}"
NEXT_TEXT = "下一步：{stage_org}“{stage_name}”，期限 {due}。"
NO_NEXT_TEXT = "各环节审批已完成，介绍信将随后开具。"
DUE_TEXT = "（期限 {due}）"
ESCALATED_TEXT = "，本事项已上报{escalate_org}"
DIGEST_LINE = "{label}（期限 {due}）"
DIGEST_SEPARATOR = "；"
