"""The console's gettext catalogs: both locales say every message, the committed .mo files are the
compiled .po files, and every key the code and templates name is in the catalogue."""

from __future__ import annotations

import io
import re

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from services.console.translation import TRANSLATIONS

CONSOLE = TRANSLATIONS.parent
LOCALES = ("zh_Hans_CN", "en")
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")
ASCII_WORD = re.compile(r"(?<![A-Za-z0-9_{])[A-Za-z]{3,}")
ALLOWED_IN_CHINESE = {"Webhook", "English", "xlsx", "csv", "https", "YYYY"}


def catalogue(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


def messages(locale: str) -> dict[str, str]:
    return {message.id: message.string for message in catalogue(locale) if message.id}


def test_both_locales_translate_the_same_keys_and_leave_none_empty():
    chinese, english = messages("zh_Hans_CN"), messages("en")
    assert chinese.keys() == english.keys()
    assert not [key for key, text in {**chinese, **english}.items() if not text]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_committed_mo_is_the_compiled_po(locale):
    """`make translations` recompiles; a .po edited without it fails here."""
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(locale))
    compiled.seek(0)
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo", "rb") as committed:
        assert dict(read_mo(committed)._messages) == dict(read_mo(compiled)._messages)  # type: ignore[attr-defined]


def test_every_key_the_console_names_is_in_the_catalogue():
    known = messages("zh_Hans_CN").keys()
    used: set[str] = set()
    for path in [*CONSOLE.glob("*.py"), *CONSOLE.glob("templates/*.html")]:
        used.update(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    assert used, "the pattern found no keys at all"
    assert sorted(used - known) == []


def test_chinese_messages_carry_no_english_words():
    english = {
        key: ASCII_WORD.findall(text)
        for key, text in messages("zh_Hans_CN").items()
        if set(ASCII_WORD.findall(text)) - ALLOWED_IN_CHINESE
    }
    assert english == {}


AUDITED = re.compile(r"""\.audit\(\s*[\w.()]+,\s*["']([a-z_]+)["']""")
TRANSFER_AUDITED = re.compile(
    r"""_audit_item\(\s*principal,\s*f?["']([a-z_]+)(?::\{command\.decision\})?["']"""
)


def test_every_audit_action_the_services_write_has_a_name():
    """The audit reader names each action in words; one it does not know shows as 其他操作, so
    an action a service writes must be in the catalogue (transfer's decisions as `decide:<d>`)."""
    from services.transfer.domain import DECISIONS
    from shared.settings import PROJECT_ROOT

    written: set[str] = set()
    for path in (PROJECT_ROOT / "services").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written.update(AUDITED.findall(text))
        written.update(action for action in TRANSFER_AUDITED.findall(text) if action != "decide")
    written.update(f"decide:{decision}" for decision in DECISIONS)
    assert {"apply", "urge", "decide:approve", "resubmit", "report"} <= written, written
    assert (
        sorted(
            f"audit_action.{action}"
            for action in written
            if f"audit_action.{action}" not in messages("zh_Hans_CN")
        )
        == []
    )
