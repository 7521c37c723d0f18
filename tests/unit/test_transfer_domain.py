"""Pure rules of the transfer: chains, holders, escalation, the process state machine."""

from __future__ import annotations

import pytest

from services.transfer import domain
from services.transfer.domain import Process, RouteSide
from shared.errors import Conflict, InvalidInput

SENDING = RouteSide("BR-YUMU", "TW-MOUDAO", "CO-LICHUAN", "CI-ENSHI", "PR-HUBEI")
RECEIVING = RouteSide("BR-HONGJIAN", "TW-KEQIAO", "CO-KEQIAO", "CI-SHAOXING", "PR-ZHEJIANG")


def test_chain_from_configuration():
    assert domain.parse_chain("sending_branch, township ,receiving_branch") == (
        "sending_branch",
        "township",
        "receiving_branch",
    )
    for bad in ("", "sending_branch,mayor", "township,township"):
        with pytest.raises(ValueError):
            domain.parse_chain(bad)


def test_stage_holders_and_escalation():
    assert [domain.stage_org(s, SENDING, RECEIVING) for s in domain.STAGES] == [
        "BR-YUMU",
        "TW-MOUDAO",
        "CO-LICHUAN",
        "CO-KEQIAO",  # receiving_county: the county above the receiving branch
        "BR-HONGJIAN",
    ]
    assert domain.escalation_org("receiving_county", SENDING, RECEIVING) == "CI-SHAOXING"
    assert domain.escalation_org("sending_branch", SENDING, RECEIVING) == "TW-MOUDAO"
    assert domain.escalation_org("county", SENDING, RECEIVING) == "CI-ENSHI"
    assert domain.escalation_org("receiving_branch", SENDING, RECEIVING) == "TW-KEQIAO"


def test_a_skipped_level_falls_back_to_the_next_one_up():
    no_county = RouteSide("BR-X", "TW-X", None, None, "PR-X")
    assert domain.stage_org("county", no_county, RECEIVING) == "PR-X"
    assert domain.escalation_org("township", no_county, RECEIVING) == "PR-X"
    assert domain.letter_county(no_county) == "PR-X"
    with pytest.raises(InvalidInput):
        domain.stage_org("county", RouteSide("BR-ONLY"), RECEIVING)


def test_letter_number_is_per_county_and_year():
    assert domain.letter_number("CO-LICHUAN", 2026, 42) == "CO-LICHUAN-2026-000042"


def test_letters_are_dated_in_china_time():
    from datetime import UTC, date, datetime

    assert domain.local_date(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert domain.local_date(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == date(2027, 1, 1)


def test_receiving_branch_must_differ_and_reasons_are_required():
    with pytest.raises(InvalidInput) as same:
        domain.check_new_transfer("BR-A", "BR-A")
    assert same.value.field == "to_branch_code"
    domain.check_decision("approve", None)
    for decision in ("reject", "return"):
        with pytest.raises(InvalidInput) as missing:
            domain.check_decision(decision, "  ")
        assert missing.value.field == "reason"


def test_process_walks_the_chain_to_the_letter():
    process = Process(chain=["sending_branch", "township", "receiving_branch"])
    assert process.status == "pending_sending_branch"
    assert process.decide("approve") == "pending_township"
    with pytest.raises(Conflict):
        process.check_decide("sending_branch")  # already decided
    process.decide("approve")
    assert process.decide("approve") == "letter_issued"
    with pytest.raises(Conflict):
        process.decide("approve")  # no stage open
    process.report()
    with pytest.raises(Conflict):
        process.cancel()  # reported: the move is under way
    assert process.finish(moved=True) == "completed"


def test_return_resubmit_cancel_and_expire():
    process = Process(chain=["sending_branch", "township"])
    with pytest.raises(Conflict):
        process.resubmit(["sending_branch"])
    assert process.decide("return") == "returned"
    with pytest.raises(Conflict):
        process.report()
    assert process.resubmit(["sending_branch", "township", "county"]) == "pending_sending_branch"
    process.decide("approve")
    process.decide("approve")
    assert process.decide("approve") == "letter_issued"
    assert process.expire() == "expired"
    with pytest.raises(Conflict):
        process.cancel()
    assert Process(chain=["sending_branch"]).cancel() == "cancelled"


def test_subtree_range_is_a_prefix_match():
    low, high = domain.subtree_range("/CN/P1/C1/")
    inside = ["/CN/P1/C1/", "/CN/P1/C1/T1/", "/CN/P1/C1/T1/B-9/"]
    outside = ["/CN/P1/C1", "/CN/P1/C10/", "/CN/P1/C1-2/", "/CN/P1/", "/CN/P1/C0/"]
    assert all(low <= path < high for path in inside)
    assert not any(low <= path < high for path in outside)
    assert domain.org_path("C1", "/CN/P1/C10/B/", "/CN/P1/C1/T1/B2/") == "/CN/P1/C1/"
    assert domain.org_path("X", "/CN/P1/") is None
