"""A small message catalogue: zh-CN by default, English by a switch.

Also turns the APIs' error answers into plain words for the person at the screen.
"""

from __future__ import annotations

import re

from services.console.backend import ApiError

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"

# key: (zh-CN, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("暖流 · 流动党员服务", "Nuanliu · mobile party members"),
    "nav.home": ("首页", "Home"),
    "nav.status": ("我的状态", "My status"),
    "nav.transfers": ("组织关系转接", "Transfers"),
    "nav.tasks": ("实事领办", "Tasks"),
    "nav.inbox": ("转接待办", "Transfer inbox"),
    "nav.roster": ("党员名册", "Member roster"),
    "nav.ledger": ("台账导入导出", "Ledger"),
    "nav.ranking": ("积分排行", "Points ranking"),
    "nav.stats": ("任务统计", "Task charts"),
    "nav.dashboard": ("数据看板", "Dashboard"),
    "nav.notifications": ("消息", "Notifications"),
    "nav.preferences": ("通知设置", "Preferences"),
    "nav.signout": ("退出", "Sign out"),
    "nav.lang": ("English", "中文"),
    "role.member": ("党员", "Member"),
    "role.branch_secretary": ("支部书记", "Branch secretary"),
    "role.township_officer": ("乡镇(街道)组织委员", "Township officer"),
    "role.org_department": ("县级组织部", "County org department"),
    "role.admin": ("管理员", "Administrator"),
    "role.service": ("服务", "Service"),
    "signin.title": ("登录（开发环境）", "Sign in (development)"),
    "signin.demo": ("演示身份", "Demo identities"),
    "signin.members": ("演示党员", "Demo members"),
    "signin.member_id": ("党员编号", "Member id"),
    "signin.as_member": ("以党员身份登录", "Sign in as this member"),
    "signin.custom": ("其他身份", "Another identity"),
    "signin.role": ("角色", "Role"),
    "signin.org": ("组织代码", "Org code"),
    "signin.sub": ("用户标识", "User id"),
    "signin.name": ("姓名", "Name"),
    "signin.submit": ("登录", "Sign in"),
    "signin.hint": (
        "开发环境：选择一个身份即可登录，令牌由开发密钥签发。",
        "Development: choose an identity; the token is signed with the dev secret.",
    ),
    "signed_in_as": ("当前用户", "Signed in as"),
    "common.save": ("保存", "Save"),
    "common.submit": ("提交", "Submit"),
    "common.next": ("下一页", "Next page"),
    "common.first": ("第一页", "First page"),
    "common.none": ("暂无记录", "Nothing here yet"),
    "common.yes": ("是", "yes"),
    "common.no": ("否", "no"),
    "common.view": ("查看", "View"),
    "common.filter": ("筛选", "Filter"),
    "common.all": ("全部", "All"),
    "common.unavailable": (
        "此功能暂不可用：服务尚未提供。",
        "Not available yet: the service does not offer it.",
    ),
    "status.branch": ("所在支部", "Branch"),
    "status.mobile": ("流动党员", "Mobile member"),
    "status.last_checkin": ("最近报到", "Last check-in"),
    "status.lost_contact": ("失联", "Lost contact"),
    "status.never": ("从未报到", "never"),
    "status.dues": ("党费缴至", "Dues paid through"),
    "status.dues_behind": ("欠缴 {} 个月", "{} months behind"),
    "checkin.button": ("一键报到", "Check in now"),
    "checkin.done": ("报到成功", "Checked in"),
    "checkin.grid": ("网格走访登记", "Record a grid-survey visit"),
    "checkin.note": ("备注", "Note"),
    "outflow.title": ("外出登记（凡出必报）", "Register an outflow"),
    "outflow.done": ("外出登记成功，流动党员活动证编号：", "Outflow registered; activity card no.: "),
    "inflow.title": ("流入登记（凡进必登）", "Register an inflow"),
    "inflow.done": ("流入登记成功", "Inflow registered"),
    "field.destination_region": ("流入地行政区划代码", "Destination region code"),
    "field.destination_address": ("流入地详细地址", "Destination address"),
    "field.occupation": ("从事职业", "Occupation"),
    "field.employer": ("工作单位", "Employer"),
    "field.departed_on": ("外出日期", "Departed on"),
    "field.expected_return_on": ("预计返回日期", "Expected return"),
    "field.reason": ("原因", "Reason"),
    "field.contact_phone": ("联系电话", "Contact phone"),
    "field.branch_code": ("支部代码", "Branch code"),
    "field.arrived_on": ("到达日期", "Arrived on"),
    "field.current_address": ("现居住地址", "Current address"),
    "field.contact_person": ("联系人", "Contact person"),
    "field.member_id": ("党员编号", "Member id"),
    "field.to_branch_code": ("转入支部代码", "Receiving branch code"),
    "field.decision": ("意见", "Decision"),
    "field.title": ("标题", "Title"),
    "field.description": ("内容", "Description"),
    "field.org_code": ("所属乡镇(街道)代码", "Township code"),
    "field.category": ("类别", "Category"),
    "field.capacity": ("人数上限", "Capacity"),
    "field.due_on": ("截止日期", "Due on"),
    "field.points": ("积分", "Points"),
    "field.commitment": ("承诺", "Commitment"),
    "field.note": ("进展说明", "Progress note"),
    "field.percent": ("完成百分比", "Percent done"),
    "field.summary": ("完成总结", "Summary"),
    "field.rating": ("评分 (1–5)", "Rating (1–5)"),
    "field.comment": ("评语", "Comment"),
    "field.file": ("文件 (xlsx / csv)", "File (xlsx / csv)"),
    "field.quarter": ("季度（如 2026-Q4）", "Quarter (e.g. 2026-Q4)"),
    "field.region": ("所在地行政区划代码（如 330602 绍兴越城）", "Region code (e.g. 330602)"),
    "transfer.find_branch": ("不知道支部代码？按所在地查找", "Don't know the branch code? Find one near you"),
    "field.locale": ("语言", "Language"),
    "field.quiet_hours": ("免打扰时段", "Quiet hours"),
    "transfer.apply": ("申请转接组织关系", "Apply for a transfer"),
    "transfer.mine": ("我的转接", "My transfers"),
    "transfer.route": ("转接类型", "Route"),
    "transfer.status": ("状态", "Status"),
    "transfer.stage": ("当前环节", "Current stage"),
    "transfer.due": ("办理期限", "Due"),
    "transfer.overdue": ("已超期", "Overdue"),
    "transfer.timeline": ("办理进度", "Timeline"),
    "transfer.letter": ("介绍信", "Letter"),
    "transfer.letter_number": ("介绍信编号", "Letter no."),
    "transfer.valid_until": ("有效期至", "Valid until"),
    "transfer.report": ("我已到接收支部报到", "I have reported in"),
    "transfer.decide": ("审批", "Decide"),
    "transfer.approve": ("同意", "Approve"),
    "transfer.reject": ("不同意", "Reject"),
    "transfer.return": ("退回", "Return"),
    "transfer.resubmit": ("重新提交", "Resubmit"),
    "transfer.cancel": ("撤销申请", "Cancel"),
    "transfer.reason_needed": ("不同意或退回时请填写原因", "A reason is required to reject or return"),
    "transfer.from": ("转出支部", "From"),
    "transfer.to": ("转入支部", "To"),
    "transfer.member": ("党员", "Member"),
    "inbox.todo": ("待办", "To do"),
    "inbox.coming": ("即将办理", "Coming"),
    "inbox.pending": ("未办结", "Pending"),
    "inbox.done": ("已办结", "Done"),
    "task.board": ("任务看板", "Task board"),
    "task.new": ("发布新任务", "New task"),
    "task.claimable": ("可领办的任务", "Tasks I can claim"),
    "task.mine": ("我领办的任务", "My tasks"),
    "task.claim": ("我要领办", "Claim"),
    "task.claims": ("领办人", "Claimants"),
    "task.lead": ("牵头人", "Lead"),
    "task.publish": ("发布", "Publish"),
    "task.assign": ("指派", "Assign"),
    "task.cancel": ("取消任务", "Cancel task"),
    "task.progress": ("报告进展", "Report progress"),
    "task.complete": ("完成任务", "Complete"),
    "task.evaluate": ("评价", "Evaluate"),
    "task.evaluations": ("评价记录", "Evaluations"),
    "task.overdue": ("已逾期", "Overdue"),
    "task.withdraw": ("退出领办", "Withdraw"),
    "ranking.title": ("积分排行", "Points ranking"),
    "ranking.rank": ("名次", "Rank"),
    "ranking.points": ("积分", "Points"),
    "ranking.quarter": ("季度", "Quarter"),
    "stats.by_status": ("各状态任务数", "Tasks by status"),
    "stats.completion": ("完成率", "Completion rate"),
    "dashboard.by_province": ("流动党员流入地（按省）", "Mobile members by destination province"),
    "dashboard.in": ("今年转入", "Transferred in this year"),
    "dashboard.out": ("今年转出", "Transferred out this year"),
    "dashboard.overdue": ("超期未办", "Overdue approvals"),
    "dashboard.todo": ("待办", "To do"),
    "roster.mobile_only": ("只看流动党员", "Mobile only"),
    "roster.lost_only": ("只看失联", "Lost contact only"),
    "roster.phone": ("电话", "Phone"),
    "roster.id_number": ("身份证号", "ID number"),
    "ledger.export": ("导出台账", "Export the ledger"),
    "ledger.import": ("导入党员", "Import members"),
    "ledger.dry_run": ("预检（不写入）", "Dry run (writes nothing)"),
    "ledger.confirm": ("确认导入", "Import for real"),
    "ledger.rows": ("行数", "Rows"),
    "ledger.valid": ("有效", "Valid"),
    "ledger.created": ("已导入", "Created"),
    "ledger.row": ("行", "Row"),
    "notifications.unread_only": ("只看未读", "Unread only"),
    "notifications.mark_read": ("标为已读", "Mark read"),
    "notifications.read": ("已读", "Read"),
    "prefs.saved": ("设置已保存", "Preferences saved"),
    "prefs.inapp": ("站内消息", "In-app"),
    "prefs.sms": ("短信", "SMS"),
    "prefs.email": ("电子邮件", "E-mail"),
    "prefs.webhook": ("Webhook", "Webhook"),
    "prefs.start": ("开始", "Start"),
    "prefs.end": ("结束", "End"),
    "error.title": ("出错了", "Something went wrong"),
    "error.401": ("登录已失效，请重新登录。", "Your sign-in has expired; please sign in again."),
    "error.403": ("您没有办理此事项的权限。", "You are not allowed to do this."),
    "error.404": ("没有找到该记录。", "That record was not found."),
    "error.409": ("当前状态下无法办理：", "This cannot be done in the current state: "),
    "error.422": ("请检查填写的内容。", "Please check what you entered."),
    "error.503": ("服务暂时不可用，请稍后再试。", "The service is unavailable; please try again shortly."),
    "error.500": ("系统出了点问题，请稍后再试。", "Something went wrong on our side; please try again."),
    "error.other": ("操作未成功：", "That did not work: "),
    "task_status.draft": ("草稿", "Draft"),
    "task_status.open": ("待领办", "Open"),
    "task_status.in_progress": ("办理中", "In progress"),
    "task_status.completed": ("已完成", "Completed"),
    "task_status.evaluated": ("已评价", "Evaluated"),
    "task_status.cancelled": ("已取消", "Cancelled"),
    "transfer_status.pending_sending_branch": ("待转出支部审批", "Awaiting the sending branch"),
    "transfer_status.pending_township": ("待乡镇(街道)审批", "Awaiting the township"),
    "transfer_status.pending_county": ("待县级组织部审批", "Awaiting the county"),
    "transfer_status.pending_receiving_branch": ("待接收支部审批", "Awaiting the receiving branch"),
    "transfer_status.letter_issued": ("介绍信已开具，待报到", "Letter issued; report in"),
    "transfer_status.completed": ("已完成", "Completed"),
    "transfer_status.returned": ("已退回", "Returned"),
    "transfer_status.rejected": ("未通过", "Rejected"),
    "transfer_status.cancelled": ("已撤销", "Cancelled"),
    "transfer_status.expired": ("介绍信已过期", "Letter expired"),
    "checkin_kind.self": ("本人报到", "self check-in"),
    "checkin_kind.grid_survey": ("网格走访", "grid survey"),
    "checkin_kind.transfer": ("转接报到", "transfer report-in"),
    "action.apply": ("提交申请", "applied"),
    "action.approve": ("同意", "approved"),
    "action.reject": ("不同意", "rejected"),
    "action.return": ("退回", "returned"),
    "action.resubmit": ("重新提交", "resubmitted"),
    "action.cancel": ("撤销", "cancelled"),
    "action.issue_letter": ("开具介绍信", "letter issued"),
    "action.report": ("到接收支部报到", "reported in"),
    "action.complete": ("转接完成", "completed"),
    "action.expire": ("介绍信过期", "letter expired"),
    "action.fail": ("办理失败", "failed"),
    "stage.sending_branch": ("转出支部", "sending branch"),
    "stage.township": ("乡镇(街道)", "township"),
    "stage.county": ("县级组织部", "county"),
    "stage.receiving_branch": ("接收支部", "receiving branch"),
    "route.same_county": ("县内转接", "Within the county"),
    "route.cross_county": ("跨县转接", "Across counties"),
    "route.cross_province": ("跨省转接", "Across provinces"),
    "done": ("已办理", "Done"),
}

# Marshmallow and the services speak English; these are the messages people meet most.
FIELD_MESSAGES: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (re.compile(r"^Missing data for required field\.?$"), ("此项为必填项", "This is required")),
    (re.compile(r"^Field may not be null\.?$"), ("此项为必填项", "This is required")),
    (re.compile(r"^Not a valid date\.?$"), ("请填写日期，格式为 年-月-日", "Enter a date as YYYY-MM-DD")),
    (re.compile(r"^Not a valid (integer|number)\.?$"), ("请填写数字", "Enter a number")),
    (re.compile(r"^Not a valid datetime\.?$"), ("请填写时间", "Enter a date and time")),
    (re.compile(r"^Unknown field\.?$"), ("不支持此项", "This field is not accepted")),
    (re.compile(r"^Must be one of: (.*)\.$"), ("请从以下选项中选择：{0}", "Choose one of: {0}")),
    (
        re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
        ("请填写 {0} 到 {1} 之间的数", "Enter a number from {0} to {1}"),
    ),
    (re.compile(r"^Length must be (\d+)\.$"), ("长度应为 {0} 位", "Must be {0} characters long")),
    (
        re.compile(r"^Length must be between (\d+) and (\d+)\.$"),
        ("长度应在 {0} 到 {1} 之间", "Must be {0} to {1} characters long"),
    ),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), ("此项为必填项", "This is required")),
]


def translate(key: str, locale: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        # An unknown status or route shows as the API names it, never as a catalogue key.
        return key.rsplit(".", 1)[-1]
    return entry[1] if locale == "en" else entry[0]


def plain_field_message(message: str, locale: str) -> str:
    for pattern, (zh, en) in FIELD_MESSAGES:
        match = pattern.match(message.strip())
        if match:
            return (en if locale == "en" else zh).format(*match.groups())
    return message


def plain_error(error: ApiError, locale: str) -> tuple[str, dict[str, str]]:
    """(a sentence for the top of the form, {field: sentence next to that field})."""
    fields = {
        name: "；".join(plain_field_message(text, locale) for text in messages)
        for name, messages in error.fields.items()
    }
    if error.status == 409:
        return translate("error.409", locale) + error.message, fields
    if error.status == 422 and fields:
        return translate("error.422", locale), fields
    if error.status in (401, 403, 404, 503):
        return translate(f"error.{error.status}", locale), fields
    if error.status >= 500:
        return translate("error.500", locale), fields
    return translate("error.other", locale) + error.message, fields
