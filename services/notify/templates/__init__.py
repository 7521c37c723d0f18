"""Message templates per locale, and the one function that fills them. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from services.notify.templates import en, zh_CN

DEFAULT_LOCALE = "zh-CN"
LOCALES: dict[str, ModuleType] = {"zh-CN": zh_CN, "en": en}


class _Blanks(dict[str, Any]):
    # A field an event left out reads as a dash rather than breaking the whole message.
    def __missing__(self, key: str) -> str:
        return "—"


def local_time(value: object, zone: str) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM` in the readers' zone; anything else as given."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def render(key: str, locale: str, data: dict[str, Any], zone: str = "Asia/Shanghai") -> tuple[str, str]:
    """The (title, body) of template `key` in `locale` (zh-CN when unknown), filled from `data`."""
    module = LOCALES.get(locale, zh_CN)
    title, body = module.TEMPLATES[key]
    labels = module.LABELS
    fields = _Blanks({k: ("—" if v is None else v) for k, v in data.items()})
    for name, group in (
        ("stage", "stage"),
        ("decided_stage", "stage"),
        ("returned_stage", "stage"),
        ("rejected_stage", "stage"),
        ("decision", "decision"),
        ("route", "route"),
        ("kind", "kind"),
        ("source", "source"),
    ):
        if data.get(name):
            fields[f"{name}_name"] = labels[group].get(str(data[name]), str(data[name]))
    fields["due"] = local_time(data.get("due_at"), zone)
    fields["occurred"] = local_time(data.get("occurred_at"), zone)
    fields["completed"] = local_time(data.get("completed_at"), zone)
    fields["last_contact"] = local_time(data.get("last_contact_at"), zone)
    fields["lead_text"] = module.LEAD_TEXT[bool(data.get("lead"))]
    points = data.get("points_awarded")
    fields["award_text"] = module.AWARD_TEXT.format(points=points) if points else ""
    for name in ("todo_lines", "overdue_lines"):
        if name in data and not data[name]:
            fields[name] = module.NONE_TEXT
    return title.format_map(fields), body.format_map(fields)


def template_keys() -> set[str]:
    return set(zh_CN.TEMPLATES)
