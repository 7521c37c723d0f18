"""The rules of editing, dues and returns (pure), and the return use case on in-memory repositories."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.registration import commands, domain
from shared.errors import Conflict, Forbidden, InvalidInput, PreconditionFailed, PreconditionRequired
from tests.unit.test_registration_use_cases import (  # noqa: F401 (the fixture)
    ADMIN,
    AFTER_MIDNIGHT_IN_CHINA,
    FakeRegistrationUnitOfWork,
    at,
    outflow,
    register,
    uow,
)


@pytest.mark.parametrize("header", [None, "", "  ", "*"])
def test_a_change_without_a_named_version_is_428(header):
    with pytest.raises(PreconditionRequired) as refused:
        domain.expected_version(header)
    assert refused.value.field == "If-Match" and refused.value.location == "headers"


@pytest.mark.parametrize("header", ['W/"3"', "3", '"3", "4"', '"x"', '""'])
def test_anything_but_one_strong_etag_is_412(header):
    with pytest.raises(PreconditionFailed):
        domain.expected_version(header)


def test_an_etag_round_trips():
    assert domain.expected_version(domain.member_etag(17)) == 17


def test_a_member_changes_only_their_phone_and_current_facts():
    domain.check_patch_fields(True, {"phone", "six_facts.current_address", "six_facts.contact_phone"})
    for field in ("name", "gender", "birth_date", "status"):
        with pytest.raises(Forbidden) as refused:
            domain.check_patch_fields(True, {"phone", field})
        assert refused.value.field == field
    domain.check_patch_fields(False, set(domain.STAFF_PATCHABLE))


@pytest.mark.parametrize(
    ("text", "amount"), [("12", Decimal("12")), ("12.5", Decimal("12.5")), ("0.01", Decimal("0.01"))]
)
def test_amounts_are_decimals(text, amount):
    assert domain.dues_amount(text) == amount and isinstance(domain.dues_amount(text), Decimal)


@pytest.mark.parametrize(
    "text", ["0", "0.00", "-1", "1.234", "1e3", "NaN", "Infinity", "", "1,5", "123456789"]
)
def test_bad_amounts_name_amount(text):
    with pytest.raises(InvalidInput) as refused:
        domain.dues_amount(text)
    assert refused.value.field == "amount"


def test_dues_months_forward_and_at_most_a_year_ahead():
    december = date(2026, 12, 7)
    domain.check_dues_month("2027-12", "2026-11", december)  # 12 months ahead, across the year
    with pytest.raises(InvalidInput):
        domain.check_dues_month("2028-01", "2026-11", december)
    for month in ("2026-11", "2026-10"):
        with pytest.raises(Conflict):
            domain.check_dues_month(month, "2026-11", december)


def test_a_return_lies_between_the_departure_and_today():
    domain.check_returned_on(date(2026, 6, 1), date(2026, 6, 1), date(2026, 6, 1))
    for returned in (date(2026, 5, 31), date(2026, 6, 2)):
        with pytest.raises(InvalidInput) as refused:
            domain.check_returned_on(returned, date(2026, 6, 1), date(2026, 6, 1))
        assert refused.value.field == "returned_on"


def test_one_open_outflow_and_a_return_closes_it(uow: FakeRegistrationUnitOfWork, monkeypatch):  # noqa: F811
    at(monkeypatch, AFTER_MIDNIGHT_IN_CHINA)
    member = register(uow)
    first = commands.register_outflow(uow, ADMIN, outflow(member))
    with pytest.raises(Conflict):
        commands.register_outflow(uow, ADMIN, outflow(member))
    uow.committed_events.clear()
    back = commands.record_return(uow, ADMIN, commands.RecordReturn(member, date(2026, 7, 1)))
    assert back["outflow_id"] == first.id and first.closed_reason == "returned"
    assert uow.members.get(member).mobile is False
    [event] = [e for e in uow.committed_events if e.event_type == "registration.member_returned.v1"]
    assert event.data["returned_on"] == "2026-07-01" and event.data["actor"] == ADMIN.sub
    with pytest.raises(Conflict):
        commands.record_return(uow, ADMIN, commands.RecordReturn(member, date(2026, 7, 1)))
    again = commands.register_outflow(uow, ADMIN, outflow(member))
    assert again.activity_card_no != first.activity_card_no
