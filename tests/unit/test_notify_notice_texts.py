"""Notice texts as people read them (issue 21): every event type of the system, rendered from
realistic data, names people, orgs and stages in words; no internal key, id or bare code, no
UTC ISO time, no doubled punctuation; older events without the new name fields read as well."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.notify import domain
from services.notify.commands import with_names
from services.notify.rendering import render
from services.notify.templates import en, zh_CN
from shared.contracts import CONTRACTS
from shared.events import make_envelope
from tests.support.notify_events import samples

IDENTIFIER = re.compile(r"[a-z]+_[a-z]+")
HEX_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{24}(?![0-9a-fA-F])")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\+00:00")
DOUBLED = re.compile(r"[。；，][。；，]")
TODAY = date(2026, 12, 7)

# The fields this round added for names: an older event has none of them.
NEW_NAME_FIELDS = {
    "from_branch_name",
    "to_branch_name",
    "stage_label",
    "stage_org_name",
    "actor_name",
    "actor_org_code",
    "actor_org_name",
    "acted_for_org_code",
    "acted_for_org_name",
    "urged_stage_org_name",
    "destination_region_name",
    "county_name",
    "branch_name",
}


class Directory:
    """Names as registration would answer them; `orgs` empty: registration is down."""

    def __init__(self, orgs: dict[str, str], members: dict[str, str]) -> None:
        self.orgs, self.members = orgs, members

    def org_names(self, codes: Any) -> dict[str, str]:
        return {c: self.orgs[c] for c in codes if c in self.orgs}

    def member_names(self, ids: Any) -> dict[str, str]:
        return {i: self.members[i] for i in ids if i in self.members}


def _texts(envelope: Any) -> list[tuple[str, str, str]]:
    return [
        (message.template, *render(message.template, "zh-CN", message.data, today=TODAY))
        for message in domain.messages_for(envelope)
    ]


def _problems(text: str) -> list[str]:
    found = IDENTIFIER.findall(text) + HEX_ID.findall(text) + ISO_TIME.findall(text) + DOUBLED.findall(text)
    return found + (["a blank"] if "—" in text or "None" in text else [])


def _with_directory(data: dict[str, Any]) -> Directory:
    codes = [v for k, v in data.items() if k.endswith("_code") and isinstance(v, str)]
    orgs = {code: f"测试组织{i}" for i, code in enumerate(codes)}
    members = {v: "张三" for k, v in data.items() if k in ("member_id", "lead_member_id") and v}
    return Directory(orgs, members)


CASES = samples()


def test_every_event_type_has_a_route_and_a_sample() -> None:
    assert set(CONTRACTS) <= set(domain.ROUTES), set(CONTRACTS) - set(domain.ROUTES)
    assert set(CONTRACTS) <= set(CASES), set(CONTRACTS) - set(CASES)


@pytest.mark.parametrize("event_type", sorted(CASES))
@pytest.mark.parametrize("kind", ["current", "older", "older-with-directory", "directory-down"])
def test_zh_texts_name_things_in_words(event_type: str, kind: str) -> None:
    data, _ = samples()[event_type]
    if kind != "current":
        declared = CONTRACTS[event_type].fields
        data = {
            k: v
            for k, v in data.items()
            if k not in NEW_NAME_FIELDS or (k in declared and declared[k].required)
        }
    envelope = make_envelope(event_type, "test", "s", data)
    if kind == "older-with-directory":
        (envelope,) = with_names((envelope,), _with_directory(data))
    elif kind == "directory-down":
        (envelope,) = with_names((envelope,), Directory({}, {}))
    for template, title, body in _texts(envelope):
        for text in (title, body):
            assert not _problems(text), f"{template} ({kind}): {text!r} shows {_problems(text)}"


def test_names_from_the_event_and_from_the_directory_are_used() -> None:
    data, _ = samples()["transfer.stage_decided.v1"]
    named = make_envelope("transfer.stage_decided.v1", "test", "s", {**data, "from_branch_name": "杨村第一支部"})
    texts = " ".join(t + b for _, t, b in _texts(named))
    assert "杨村第一支部" in texts and "乡镇（街道）党委审批" in texts
    older = make_envelope("transfer.stage_decided.v1", "test", "s", data)
    (looked_up,) = with_names((older,), Directory({data["from_branch_code"]: "目录里的支部"}, {}))
    assert "目录里的支部" in " ".join(t + b for _, t, b in _texts(looked_up))
    # Without either, a neutral phrase: never the code.
    plain = " ".join(t + b for _, t, b in _texts(older))
    assert data["from_branch_code"] not in plain and "转出支部" in plain


def test_task_members_are_named_through_the_directory_or_neutrally() -> None:
    data, _ = samples()["tasks.task_claimed.v1"]
    envelope = make_envelope("tasks.task_claimed.v1", "test", "s", data)
    (named,) = with_names((envelope,), Directory({}, {data["member_id"]: "李强"}))
    org_text = next(b for key, _, b in _texts(named) if key.endswith("/org"))
    assert org_text.startswith("李强认领了")
    neutral = next(b for key, _, b in _texts(envelope) if key.endswith("/org"))
    assert neutral.startswith("一名党员认领了") and data["member_id"] not in neutral


def test_times_read_in_china_time_humanly() -> None:
    data, _ = samples()["transfer.requested.v1"]
    data["due_at"] = "2026-12-10T06:30:00+00:00"
    (_, _, body), *_ = _texts(make_envelope("transfer.requested.v1", "test", "s", data))
    assert "12月10日 14:30" in body
    title, body = render("transfer.letter_issued.v1/member", "zh-CN", {**data, "valid_until": "2027-02-20",
                                                                         "letter_number": "X-1",
                                                                         "dues_paid_through": "2026-12"}, today=TODAY)
    assert "2027年2月20日" in body and "党费交至2026年12月" in body


def test_urge_says_who_urged_and_how_long_it_waited() -> None:
    data, _ = samples()["transfer.urged.v1"]
    envelope = make_envelope("transfer.urged.v1", "test", "s", data)
    envelope = envelope.__class__(**{**envelope.__dict__, "time": datetime(2026, 11, 29, 3, 0, tzinfo=UTC)})
    ((template, title, body),) = _texts(envelope)
    assert title.startswith("催办") and body.startswith("王芳本人催办") and "已等待 3 天" in body, body
    # A secretary of the sending branch urging: named with their branch.
    by_staff = {**data, "actor": "sub-1", "actor_name": "李书记", "actor_org_code": data["from_branch_code"],
                "from_branch_name": "杨村第一支部"}
    envelope = make_envelope("transfer.urged.v1", "test", "s", by_staff)
    ((_, _, body),) = _texts(envelope)
    assert body.startswith("杨村第一支部（经办人：李书记）催办"), body


def test_user_text_ending_in_a_full_stop_is_not_doubled() -> None:
    data, _ = samples()["transfer.returned.v1"]
    data["reason"] = "档案不全。"
    texts = _texts(make_envelope("transfer.returned.v1", "test", "s", data))
    assert all("。。" not in body and "档案不全。请" in body for _, _, body in texts)


def test_the_digest_names_the_org_and_formats_due_times() -> None:
    message = domain.digest_message(
        "C-1", [("transfer", "王芳：第一支部 → 第二支部", "2026-12-10T06:30:00+00:00"), ("task", "送餐", "2026-12-01")],
        "武清区委组织部",
    )
    title, body = render(message.template, "zh-CN", message.data, today=TODAY)
    assert "武清区委组织部今日待办" in body and "王芳：第一支部 → 第二支部（期限 12月10日 14:30）" in body
    assert "送餐（期限 12月1日）" in body and not _problems(title + body)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_english_has_every_template_with_the_same_placeholders() -> None:
    assert set(en.TEMPLATES) == set(zh_CN.TEMPLATES)
    for key, (title, body) in zh_CN.TEMPLATES.items():
        en_title, en_body = en.TEMPLATES[key]
        # English may say less, never something Chinese has no data for.
        assert _placeholders(en_title + en_body) <= _placeholders(title + body), key


def test_every_routed_template_exists() -> None:
    for event_type, (data, _) in samples().items():
        for message in domain.messages_for(make_envelope(event_type, "test", "s", data)):
            assert message.template in zh_CN.TEMPLATES and message.template in en.TEMPLATES
