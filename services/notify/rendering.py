"""The words of a notification: a message's template (`templates/`, one module per locale)
filled from its data, in every locale. Pure: no I/O.

The domain decides who is told which message; this decides how it reads. Texts are made once,
when a notification is stored, so a reader sees the words of the day it was sent.

A text names people, orgs and stages by name and label, never by an internal key, id or bare
code: names come from the event, else from the directory names the consumer looked up
(`NAMES_FIELD` of the data), else a neutral phrase of the locale ("转出支部", "一名党员").
Times read on the readers' clock, humanly ("12月7日 14:30")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from types import ModuleType
from typing import Any

from services.notify.domain import DEFAULT_LOCALE, Message, Recipient, in_zone
from services.notify.templates import en, zh_CN
from shared.clock import CHINA_ZONE_NAME

LOCALES: dict[str, ModuleType] = {"zh-CN": zh_CN, "en": en}

# Where the consumer puts the names it looked up: {"org": {code: name}, "member": {id: name}}.
NAMES_FIELD = "directory_names"

# Event fields holding a code, and the label group that names the code in words.
_LABELLED = (
    ("stage", "stage"),
    ("decided_stage", "stage"),
    ("returned_stage", "stage"),
    ("rejected_stage", "stage"),
    ("urged_stage", "stage"),
    ("decision", "decision"),
    ("route", "route"),
    ("kind", "kind"),
    ("source", "source"),
    ("level", "level"),
    ("role", "role"),
    ("method", "method"),
    ("result", "result"),
    ("standing", "standing"),
    ("new_standing", "new_standing"),
    ("previous_standing", "new_standing"),
)

# Org code fields → (the event's name field beside it, the placeholder that shows the org).
ORG_FIELDS = (
    ("branch_code", "branch_name", "branch"),
    ("from_branch_code", "from_branch_name", "from_branch"),
    ("to_branch_code", "to_branch_name", "to_branch"),
    ("home_branch_code", "home_branch_name", "home_branch"),
    ("inflow_branch_code", "inflow_branch_name", "inflow_branch"),
    ("stage_org_code", "stage_org_name", "stage_org"),
    ("decided_org_code", "decided_org_name", "decided_org"),
    ("escalate_to_org_code", "escalate_to_org_name", "escalate_org"),
    ("urged_stage_org_code", "urged_stage_org_name", "urged_org"),
    ("acted_for_org_code", "acted_for_org_name", "acted_for_org"),
    ("actor_org_code", "actor_org_name", "actor_org"),
    ("org_code", "org_name", "org"),
    ("county_code", "county_name", "county"),
    ("parent_code", "parent_name", "parent"),
)
# Member id fields → the placeholder that shows the person (task events name members by id).
MEMBER_FIELDS = (("member_id", "member"), ("lead_member_id", "lead_member"))
TIME_FIELDS = (
    ("due_at", "due"),
    ("occurred_at", "occurred"),
    ("completed_at", "completed"),
    ("last_contact_at", "last_contact"),
    ("attempted_at", "attempted"),
    ("waiting_since", "waiting_since_text"),
)
DATE_FIELDS = (
    "departed_on",
    "expected_return_on",
    "arrived_on",
    "issued_on",
    "valid_until",
    "returned_on",
    "decided_on",
    "paid_on",
    "lost_contact_since",
    "due_on",
)
MONTH_FIELDS = ("paid_through", "dues_paid_through", "month")
# Free texts people typed: their closing punctuation is dropped, the template has its own.
FREE_TEXTS = ("reason", "note", "summary", "commitment", "title")
_CLOSING = "。．.！!；;，,、 \t\n"


@dataclass(frozen=True)
class RenderedMessage:
    """A message with its (title, body) in every locale."""

    recipient: Recipient
    template: str
    urgent: bool
    texts: dict[str, tuple[str, str]]  # locale → (title, body)

    @property
    def title(self) -> str:
        return self.texts[DEFAULT_LOCALE][0]

    @property
    def body(self) -> str:
        return self.texts[DEFAULT_LOCALE][1]

    def text(self, locale: str) -> tuple[str, str]:
        return self.texts.get(locale) or self.texts[DEFAULT_LOCALE]


def render_message(message: Message, zone: str = CHINA_ZONE_NAME, today: date | None = None) -> RenderedMessage:
    """The message's words in every locale; times read on the clock of `zone`."""
    texts = {
        locale: render(message.template, locale, message.data, zone, today) for locale in LOCALES
    }
    return RenderedMessage(message.recipient, message.template, message.urgent, texts)


class _Blanks(dict[str, Any]):
    # A field an event left out reads as a neutral word rather than breaking the whole message.
    def __init__(self, values: dict[str, Any], blank: str) -> None:
        super().__init__(values)
        self.blank = blank

    def __missing__(self, key: str) -> str:
        return self.blank


def _moment(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def local_time(value: object, zone: str, module: ModuleType = zh_CN, today: date | None = None) -> str:
    """An ISO timestamp as the locale writes it on the readers' clock ("12月7日 14:30"; the year
    too when it is not this year's)."""
    moment = _moment(value)
    if moment is None:
        return module.UNKNOWN_TIME if not value else str(value)
    local = moment if moment.tzinfo is None else in_zone(moment, zone)
    return module.format_time(local, today or in_zone(datetime.now().astimezone(), zone).date())


def local_date(value: object, module: ModuleType = zh_CN, today: date | None = None) -> str:
    """A YYYY-MM-DD date as the locale writes it ("12月7日")."""
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value) if value else module.UNKNOWN_TIME
    return module.format_date(day, today or date.today())


def month_text(value: object, module: ModuleType = zh_CN) -> str:
    """A YYYY-MM month as the locale writes it ("2026年11月")."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", str(value or ""))
    if not match:
        return str(value) if value else module.UNKNOWN_TIME
    return module.format_month(int(match.group(1)), int(match.group(2)))


def waited_text(since: object, until: object, module: ModuleType) -> str:
    """How long from `since` to `until` (ISO times): "3 天", "5 小时"."""
    start, end = _moment(since), _moment(until)
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        return module.UNKNOWN_WAIT
    seconds = max((end - start).total_seconds(), 0)
    if seconds >= 86400:
        return module.WAIT_DAYS.format(n=int(seconds // 86400))
    return module.WAIT_HOURS.format(n=max(int(seconds // 3600), 1))


def _names(data: dict[str, Any], kind: str) -> dict[str, str]:
    looked_up = data.get(NAMES_FIELD) or {}
    return dict(looked_up.get(kind) or {})


def tidy(text: str) -> str:
    """No doubled or clashing closing punctuation ("。。", "；。"), no space before it."""
    text = re.sub(r"\s+([。，；：！？）])", r"\1", text)
    text = re.sub(r"([。；，！？])[。；，]+", r"\1", text)
    return text.strip()


def fields_of(data: dict[str, Any], module: ModuleType, zone: str, today: date | None) -> _Blanks:
    """The placeholders a template may use, from the event data, in the words of `module`."""
    fields = _Blanks(
        {k: v for k, v in data.items() if v is not None and k != NAMES_FIELD}, module.UNKNOWN
    )
    labels = module.LABELS
    for name in FREE_TEXTS:
        if isinstance(data.get(name), str):
            fields[name] = data[name].strip().rstrip(_CLOSING) or module.UNKNOWN
    for name, group in _LABELLED:
        if data.get(name):
            key = str(data[name])
            fields[f"{name}_name"] = labels[group].get(key) or labels[group].get(
                key.removeprefix("pending_"), module.UNKNOWN_LABEL
            )
    if data.get("stage_label") and module is zh_CN:
        fields["stage_name"] = data["stage_label"]
    # A name the event gives one field names that org wherever else it appears (the urging
    # secretary's org is often the sending branch).
    orgs = {
        **_names(data, "org"),
        **{data[c]: data[n] for c, n, _ in ORG_FIELDS if data.get(c) and data.get(n)},
    }
    for code_field, name_field, placeholder in ORG_FIELDS:
        code = data.get(code_field)
        org_name = data.get(name_field) or (orgs.get(code) if code else None)
        fields[placeholder] = org_name or module.ORG_FALLBACK.get(placeholder, module.ORG_FALLBACK["org"])
    members = _names(data, "member")
    for id_field, placeholder in MEMBER_FIELDS:
        member_id = data.get(id_field)
        fields[placeholder] = members.get(member_id) if member_id else None
        if not fields[placeholder]:
            same = member_id and member_id == data.get("member_id") and data.get("member_name")
            fields[placeholder] = same or module.SOMEONE
    fields["member_name"] = data.get("member_name") or module.SOMEONE
    fields["actor_text"] = _actor_text(data, module, members)
    fields["actor_party"] = _actor_party(data, module, fields)
    fields["acted_for_text"] = (
        module.ACTED_FOR_TEXT.format(actor_org=fields["actor_org"], acted_for_org=fields["acted_for_org"])
        if data.get("acted_for_org_code")
        else ""
    )
    for source, placeholder in TIME_FIELDS:
        fields[placeholder] = local_time(data.get(source), zone, module, today)
    for name in DATE_FIELDS:
        if name in data:
            fields[name] = local_date(data[name], module, today)
    for name in MONTH_FIELDS:
        if name in data:
            fields[name] = month_text(data[name], module)
    fields["waited"] = waited_text(data.get("waiting_since"), data.get("event_time"), module)
    fields["destination"] = (
        data.get("destination_region_name") or data.get("destination_address") or module.ELSEWHERE
    )
    fields["lead_text"] = module.LEAD_TEXT[bool(data.get("lead"))]
    station = data.get("station_name")
    fields["station_text"] = module.STATION_TEXT.format(station_name=station) if station else ""
    points = data.get("points_awarded")
    fields["award_text"] = module.AWARD_TEXT.format(points=points) if points else ""
    fields["note_text"] = module.NOTE_TEXT.format(note=fields["note"]) if data.get("note") else ""
    fields["contact_text"] = (
        module.CONTACT_TEXT.format(contact_person=data["contact_person"]) if data.get("contact_person") else ""
    )
    fields["return_text"] = (
        module.RETURN_TEXT.format(expected_return_on=fields["expected_return_on"])
        if data.get("expected_return_on")
        else ""
    )
    fields["dues_text"] = (
        module.DUES_TEXT.format(dues_paid_through=fields["dues_paid_through"])
        if data.get("dues_paid_through")
        else ""
    )
    fields["next_text"] = (
        module.NEXT_TEXT.format(stage_name=fields["stage_name"], stage_org=fields["stage_org"], due=fields["due"])
        if data.get("stage")
        else module.NO_NEXT_TEXT
    )
    fields["due_text"] = module.DUE_TEXT.format(due=fields["due"]) if data.get("due_at") else ""
    fields["escalated_text"] = (
        module.ESCALATED_TEXT.format(escalate_org=fields["escalate_org"]) if data.get("escalate_to_org_code") else ""
    )
    # `fields` on the wire, `changed_fields` once loaded by its schema.
    changed_names = data.get("changed_fields") or data.get("fields") or []
    changed = [module.FIELD_LABELS.get(str(f), module.OTHER_FIELD) for f in changed_names]
    fields["fields_text"] = module.LIST_SEPARATOR.join(dict.fromkeys(changed)) or module.OTHER_FIELD
    names = [str(n) for n in data.get("not_reached_names") or []]
    more = int(data.get("not_reached") or 0) > len(names)
    fields["names_text"] = module.LIST_SEPARATOR.join(names) + (module.AND_MORE if more and names else "")
    fields["category_name"] = labels["category"].get(str(data.get("category")), data.get("category") or "")
    fields["digest_transfers"] = _digest_lines(data, "transfer", module, zone, today)
    fields["digest_tasks"] = _digest_lines(data, "task", module, zone, today)
    return fields


def _actor_text(data: dict[str, Any], module: ModuleType, members: dict[str, str]) -> str:
    """Who acted, as a clause ("（经办人：张三）"), or nothing when the event does not say."""
    actor = data.get("actor")
    name = data.get("actor_name")
    if not name and actor and actor == data.get("member_id"):
        name = data.get("member_name")
    if not name and actor:
        name = members.get(str(actor))
    return module.ACTOR_TEXT.format(actor=name) if name else ""


def _actor_party(data: dict[str, Any], module: ModuleType, fields: dict[str, Any]) -> str:
    """Who acted, as the subject of a sentence: the member themself, or an org and its person."""
    actor = data.get("actor")
    if actor and actor == data.get("member_id"):
        return str(module.SELF_ACTOR.format(member_name=fields["member_name"]))
    org_code = data.get("actor_org_code")
    if org_code:
        return f"{fields['actor_org']}{fields['actor_text']}"
    name = data.get("actor_name")
    return str(name) if name else str(module.STAFF_ACTOR)


def _digest_lines(data: dict[str, Any], kind: str, module: ModuleType, zone: str, today: date | None) -> str:
    rows = [row for row in data.get("todos") or [] if row[0] == kind]
    if not rows and "todos" in data:
        return module.NONE_TEXT
    lines = []
    for _, label, due in rows:
        when = (local_time(due, zone, module, today) if "T" in str(due) else local_date(due, module, today)) if due else None
        lines.append(module.DIGEST_LINE.format(label=label, due=when) if when else label)
    return module.DIGEST_SEPARATOR.join(lines)


def render(
    key: str, locale: str, data: dict[str, Any], zone: str = CHINA_ZONE_NAME, today: date | None = None
) -> tuple[str, str]:
    """The (title, body) of template `key` in `locale` (zh-CN when unknown), filled from `data`."""
    module = LOCALES.get(locale, zh_CN)
    title, body = module.TEMPLATES[key]
    fields = fields_of(data, module, zone, today)
    return tidy(title.format_map(fields)), tidy(body.format_map(fields))
