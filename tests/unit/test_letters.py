"""The letter's pure parts (issue 20): verification codes, what a letter verifies as, the masks
and the particulars as the paper prints them. No database, no network."""

from __future__ import annotations

import stat
from datetime import date

import pytest

from services.transfer import domain
from services.transfer.letter_codes import KEY_FILE, LetterCodes, LetterKeyError, load_key
from services.transfer.letter_store import IssuedLetter, status_of
from services.transfer.letters import age_on, issuing_county, mask_name

KEY = b"k" * 32


def test_a_code_belongs_to_one_number_and_one_key():
    codes = LetterCodes(KEY, "https://console.example/")
    first, second = codes.code("TJ-WQ-2026-000001"), codes.code("TJ-WQ-2026-000002")
    assert len(first) == 16 and first.isalnum() and first != second
    assert codes.code("TJ-WQ-2026-000001") == first  # stable: nothing is stored
    assert LetterCodes(b"x" * 32, "").code("TJ-WQ-2026-000001") != first  # the key makes it
    assert codes.matches("TJ-WQ-2026-000001", first.upper() + " ")
    assert not codes.matches("TJ-WQ-2026-000002", first)
    assert not codes.matches("TJ-WQ-2026-000001", "")
    assert not codes.matches("TJ-WQ-2026-000001", "l\U000df1e9ã")  # anything typed is just wrong
    assert not codes.matches("ã1O\x85", first)


def test_the_verification_url_is_the_console_page_with_number_and_code():
    codes = LetterCodes(KEY, "https://console.example/")
    url = codes.verification_url("TJ-WQ-2026-000001")
    assert url == f"https://console.example/verify?n=TJ-WQ-2026-000001&c={codes.code('TJ-WQ-2026-000001')}"


def test_the_development_key_is_made_once_readable_by_its_owner_only(tmp_path):
    key = load_key(tmp_path, environ={})
    path = tmp_path / KEY_FILE
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(tmp_path, environ={}) == key
    other = tmp_path / "other"
    other.mkdir()
    assert load_key(other, environ={}) != key  # a fresh var/ gets its own


def test_a_configured_key_wins_and_a_short_one_is_refused(tmp_path):
    assert load_key(tmp_path, environ={"NUANLIU_LETTER_KEY": "s" * 40}) == b"s" * 40
    with pytest.raises(LetterKeyError):
        load_key(tmp_path, environ={"NUANLIU_LETTER_KEY": "short"})
    assert not (tmp_path / KEY_FILE).exists()


def letter(status: str, current: str | None = "N-1", valid_until: date = date(2026, 12, 31)) -> IssuedLetter:
    return IssuedLetter("N-1", date(2026, 12, 1), valid_until, status, current, "朱明", "B1", "B2")


@pytest.mark.parametrize(
    ("transfer_status", "current", "today", "expected"),
    [
        (domain.LETTER_ISSUED, "N-1", date(2026, 12, 31), "valid"),
        (domain.LETTER_ISSUED, "N-1", date(2027, 1, 1), "expired"),  # the timer has not run yet
        (domain.EXPIRED, "N-1", date(2026, 12, 10), "expired"),
        (domain.COMPLETED, "N-1", date(2027, 3, 1), "used"),
        (domain.CANCELLED, "N-1", date(2026, 12, 10), "cancelled"),
        (domain.FAILED, "N-1", date(2026, 12, 10), "cancelled"),
        (domain.LETTER_ISSUED, "N-2", date(2026, 12, 10), "superseded"),  # re-issued
        (domain.COMPLETED, "N-2", date(2026, 12, 10), "superseded"),
    ],
)
def test_what_a_letter_verifies_as(transfer_status, current, today, expected):
    assert status_of(letter(transfer_status, current), today) == expected


def test_masks_and_particulars():
    assert mask_name("朱明") == "朱*"
    assert mask_name("欧阳小明") == "欧***"
    assert mask_name("朱") == "朱*"
    assert age_on(date(1988, 3, 9), date(2026, 3, 8)) == 37
    assert age_on(date(1988, 3, 9), date(2026, 3, 9)) == 38
    assert issuing_county("TJ-WQ-2026-000002") == "TJ-WQ"
    assert issuing_county("CO12-2026-000010") == "CO12"
