"""The pure rules of the ledger course: the keyed ID hash, standing decisions, when a suspension
is due, and a month's bounds in China time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.registration import domain
from shared.clock import CHINA_TIME
from shared.errors import Conflict, InvalidInput


def test_the_id_hash_is_keyed_and_normalized():
    number = "11010519491231002X"
    assert domain.id_number_hash(number, "k1") == domain.id_number_hash(" 11010519491231002x ", "k1")
    assert domain.id_number_hash(number, "k1") != domain.id_number_hash(number, "k2")
    assert number not in domain.id_number_hash(number, "k1") and len(domain.id_number_hash(number, "k1")) == 64


@pytest.mark.parametrize(
    ("current", "decision", "result"),
    [("normal", "suspended", "suspended"), ("suspended", "restored", "normal"), ("normal", "removed", "removed"),
     ("suspended", "removed", "removed")],
)  # fmt: skip
def test_standing_decisions_that_make_sense(current, decision, result):
    assert domain.standing_after(current, decision) == result


@pytest.mark.parametrize(
    ("current", "decision"),
    [("suspended", "suspended"), ("normal", "restored"), ("removed", "restored"), ("removed", "removed")],
)
def test_standing_decisions_that_do_not(current, decision):
    with pytest.raises(Conflict):
        domain.standing_after(current, decision)


def test_an_unknown_decision_names_standing():
    with pytest.raises(InvalidInput) as refused:
        domain.standing_after("normal", "normal")
    assert refused.value.field == "standing"


def test_a_suspension_is_due_after_the_days_with_three_failed_attempts():
    since = date(2026, 1, 1)
    assert domain.suspension_due(since, date(2026, 6, 30), 180, 3)
    assert not domain.suspension_due(since, date(2026, 6, 29), 180, 3)  # day 179
    assert not domain.suspension_due(since, date(2026, 12, 1), 180, 2)
    assert not domain.suspension_due(None, date(2026, 12, 1), 180, 9)


def test_a_month_is_counted_in_china_time():
    start, end = domain.month_bounds("2026-12", CHINA_TIME)
    assert start.astimezone(UTC) == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert domain.day_start(date(2026, 3, 1), CHINA_TIME).astimezone(UTC) == datetime(2026, 2, 28, 16, tzinfo=UTC)
