"""The APIs' error answers in plain words for the person at the screen.

The APIs speak English (marshmallow's messages, `Conflict("the transfer is at pending_township, ...")`)
and keep doing so: their payloads are the contract. Here each message is matched by its field and
reason and replaced with a sentence from the catalogue; a message nothing matches becomes a generic
Chinese sentence rather than English on a Chinese page. In English the API's own words are shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from services.console.backend import ApiError
from services.console.translation import has_message, locale, t

PHONE_FIELDS = {"phone", "contact_phone"}
REGION_FIELDS = {"region", "destination_region"}
BRANCH_FIELDS = {"branch_code", "to_branch_code", "branch", "org", "org_code"}
MEMBER_FIELDS = {"member_id"}
MONTH_FIELDS = {"paid_through", "month", "quarter"}

# (pattern of marshmallow's message, catalogue key); groups fill the key's {0}, {1}.
FIELD_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Missing data for required field\.?$"), "field_error.required"),
    (re.compile(r"^required when channels\.\w+ is true"), "field_error.required"),
    (re.compile(r"^Field may not be null\.?$"), "field_error.required"),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), "field_error.required"),
    (re.compile(r"^Not a valid date\.?$"), "field_error.date"),
    (re.compile(r"^Not a valid (?:integer|number)\.?$"), "field_error.number"),
    (re.compile(r"^Not a valid datetime\.?$"), "field_error.datetime"),
    (re.compile(r"^Unknown field\.?$"), "field_error.unknown"),
    (re.compile(r"^Must be one of: .*\.$"), "field_error.one_of"),
    (re.compile(r"^Not a valid email address\.?$"), "field_error.email"),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"), "field_error.range"),
    (re.compile(r"^Length must be (\d+)\.$"), "field_error.length"),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), "field_error.length_between"),
]

TRANSFER_STATUSES = (
    "pending_sending_branch|pending_township|pending_county|pending_receiving_county|"
    "pending_receiving_branch|letter_issued|completed|returned|rejected|cancelled|expired"
)
TASK_STATUSES = "draft|open|in_progress|completed|evaluated|cancelled"


def _transfer_status(status: str) -> str:
    key = f"transfer_status.{status}"
    return t(key) if has_message(key) else t("conflict.generic")


def _org(code: str) -> str:
    from flask import current_app

    from services.console import directory

    return directory.org_name(current_app.extensions["console"], code.rstrip(".,;"))


# 409 messages of the APIs: (pattern, how to say it). Order matters: specific before general.
CONFLICTS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(rf"the transfer is at ({TRANSFER_STATUSES}), held by (\S+)"),
        lambda m: t("conflict.transfer_at", _transfer_status(m[1]), _org(m[2])),
    ),
    (re.compile(r"dues_paid_through|dues are|not paid through"), lambda m: t("conflict.dues")),
    (re.compile(r"this task is full: all (\d+) places"), lambda m: t("conflict.task_full", m[1])),
    (re.compile(r"you have already claimed this task"), lambda m: t("conflict.already_claimed")),
    (re.compile(r"member \S+ has already claimed this task"), lambda m: t("conflict.member_claimed")),
    (re.compile(r"member \S+ has not claimed this task"), lambda m: t("conflict.not_claimed")),
    (re.compile(r"may lead at most (\d+) open tasks"), lambda m: t("conflict.lead_cap", m[1])),
    (re.compile(r"already has (?:an|another) open transfer"), lambda m: t("conflict.open_transfer")),
    (re.compile(r"no open outflow"), lambda m: t("conflict.no_outflow")),
    (re.compile(r"open outflow"), lambda m: t("conflict.open_outflow")),
    (re.compile(r"progress only goes up: it is already (\d+)%"), lambda m: t("conflict.progress", m[1])),
    (re.compile(r"already has your \w+ evaluation"), lambda m: t("conflict.evaluated")),
    (re.compile(r"only a claimant reports progress"), lambda m: t("conflict.only_claimant")),
    (re.compile(r"only the lead claimant"), lambda m: t("conflict.only_lead")),
    (re.compile(r"paid_through|not after"), lambda m: t("conflict.dues_not_after")),
    (re.compile(rf"(?:transfer|it) is ({TRANSFER_STATUSES})\b"), lambda m: t("conflict.transfer_is", _transfer_status(m[1]))),
    (re.compile(rf"now ({TRANSFER_STATUSES})\b"), lambda m: t("conflict.transfer_is", _transfer_status(m[1]))),
    (
        re.compile(rf"this task: ({TASK_STATUSES})\b"),
        lambda m: t("conflict.task_state", t(f"task_status.{m[1]}")),
    ),
    (re.compile(r"try again"), lambda m: t("conflict.retry")),
    (re.compile(r"already exists|already is"), lambda m: t("conflict.exists")),
]


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def plain_field_message(field: str, message: str) -> str:
    """One API complaint about one field, as a sentence for the person who filled it in."""
    if locale() == "en":
        return message
    text = message.strip()
    if _has_chinese(text):
        return text  # import rows and the like are already Chinese
    if field in PHONE_FIELDS and re.match(r"^Length must be|^Shorter than|digits|phone", text):
        return t("field_error.phone")
    if text.startswith(("Missing data", "Field may not be null")):
        return t("field_error.required")
    for pattern, key in FIELD_REASONS:
        match = pattern.match(text)
        if match:
            return t(key, *match.groups())
    if field in REGION_FIELDS:
        return t("field_error.region")
    if field in BRANCH_FIELDS:
        return t("field_error.branch")
    if field in MEMBER_FIELDS:
        return t("field_error.member")
    if field in MONTH_FIELDS:
        return t("field_error.month")
    if field == "activity_card_no":
        return t("field_error.activity_card")
    if field == "email":
        return t("field_error.email")
    if field == "webhook_url":
        return t("field_error.url")
    return t("field_error.other")


def plain_conflict(message: str) -> str:
    if locale() == "en":
        return t("error.409") + message
    for pattern, say in CONFLICTS:
        match = pattern.search(message)
        if match:
            return say(match)
    return t("conflict.generic")


def plain_error(error: ApiError) -> tuple[str, dict[str, str]]:
    """(a sentence for the top of the form, {field: sentence next to that field})."""
    fields = {
        name: "；".join(dict.fromkeys(plain_field_message(name.rsplit(".", 1)[-1], text) for text in messages))
        for name, messages in error.fields.items()
    }
    # `quiet_hours.end` or `six_facts.occupation`: the form shows it at its group or at its field.
    for name in [name for name in fields if "." in name]:
        fields.setdefault(name.split(".", 1)[0], fields[name])
        fields.setdefault(name.rsplit(".", 1)[-1], fields[name])
    if error.status == 409:
        if "dues_paid_through" in error.fields and locale() != "en":
            return t("conflict.dues"), {}
        return plain_conflict(error.message), fields
    if error.status == 422 and fields:
        return t("error.422"), fields
    if error.status in (401, 403, 404, 412, 413, 428, 429, 503):
        return t(f"error.{error.status}"), fields
    if error.status >= 500:
        return t("error.500"), fields
    if locale() == "en":
        return t("error.other") + error.message, fields
    return t("error.422"), fields
