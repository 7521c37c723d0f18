"""The words of a notification: a message's template (`templates/`, one module per locale)
filled from its data, in every locale. Pure: no I/O.

The domain decides who is told which message; this decides how it reads. Texts are made once,
when a notification is stored, so a reader sees the words of the day it was sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from services.notify.domain import DEFAULT_LOCALE, Message, Recipient, in_zone
from services.notify.templates import en, zh_CN
from shared.clock import CHINA_ZONE_NAME

LOCALES: dict[str, ModuleType] = {"zh-CN": zh_CN, "en": en}

# Event fields holding a code, and the label group that names the code in words.
_LABELLED = (
    ("stage", "stage"),
    ("decided_stage", "stage"),
    ("returned_stage", "stage"),
    ("rejected_stage", "stage"),
    ("decision", "decision"),
    ("route", "route"),
    ("kind", "kind"),
    ("source", "source"),
)


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


def render_message(message: Message, zone: str = CHINA_ZONE_NAME) -> RenderedMessage:
    """The message's words in every locale; times read on the clock of `zone`."""
    texts = {locale: render(message.template, locale, message.data, zone) for locale in LOCALES}
    return RenderedMessage(message.recipient, message.template, message.urgent, texts)


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
    return in_zone(moment, zone).strftime("%Y-%m-%d %H:%M")


def render(key: str, locale: str, data: dict[str, Any], zone: str = CHINA_ZONE_NAME) -> tuple[str, str]:
    """The (title, body) of template `key` in `locale` (zh-CN when unknown), filled from `data`."""
    module = LOCALES.get(locale, zh_CN)
    title, body = module.TEMPLATES[key]
    labels = module.LABELS
    fields = _Blanks({k: ("—" if v is None else v) for k, v in data.items()})
    for name, group in _LABELLED:
        if data.get(name):
            fields[f"{name}_name"] = labels[group].get(str(data[name]), str(data[name]))
    fields["due"] = local_time(data.get("due_at"), zone)
    fields["occurred"] = local_time(data.get("occurred_at"), zone)
    fields["completed"] = local_time(data.get("completed_at"), zone)
    fields["last_contact"] = local_time(data.get("last_contact_at"), zone)
    fields["lead_text"] = module.LEAD_TEXT[bool(data.get("lead"))]
    station = data.get("station_name")
    fields["station_text"] = module.STATION_TEXT.format(station_name=station) if station else ""
    points = data.get("points_awarded")
    fields["award_text"] = module.AWARD_TEXT.format(points=points) if points else ""
    for name in ("todo_lines", "overdue_lines"):
        if name in data and not data[name]:
            fields[name] = module.NONE_TEXT
    return title.format_map(fields), body.format_map(fields)
