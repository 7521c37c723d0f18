"""The pure rules of issue 21: one permission function for acting and for `allowed_actions`, 代办
for an overdue stage, urging once a day, dues before the move, and chains of stage kinds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.transfer import domain
from services.transfer.domain import Caller, TransferFacts
from services.transfer.messages import Plan
from services.transfer.settings import CHAINS
from services.transfer.workflows import TransferWorkflow
from shared.errors import Conflict, Forbidden

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
FROM = "/CN/PR-S/CO-S/TW-S/BR-S/"
TO = "/CN/PR-R/CO-R/TW-R/BR-R/"


def at(stage: str | None, status: str | None = None, **changes: object) -> TransferFacts:
    orgs = {
        "sending_branch": ("BR-S", FROM),
        "township": ("TW-S", "/CN/PR-S/CO-S/TW-S/"),
        "county": ("CO-S", "/CN/PR-S/CO-S/"),
        "receiving_county": ("CO-R", "/CN/PR-R/CO-R/"),
        "receiving_branch": ("BR-R", TO),
    }
    org, path = orgs[stage] if stage else (None, None)
    facts = TransferFacts(
        member_id="m-1",
        applicant="m-1",
        from_branch_code="BR-S",
        to_branch_code="BR-R",
        from_path=FROM,
        to_path=TO,
        status=status or domain.stage_status(stage or ""),
        stage=stage,
        stage_org=org,
        stage_path=path,
        chain_orgs=frozenset({"BR-S", "TW-S", "CO-S", "CO-R", "BR-R"}),
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


CALLERS = {
    "member": Caller("m-1", "member", "BR-S"),
    "other_member": Caller("m-2", "member", "BR-S"),
    "sending": Caller("sec-s", "branch_secretary", "BR-S"),
    "township": Caller("off-s", "township_officer", "TW-S"),
    "county": Caller("dep-s", "org_department", "CO-S"),
    "province": Caller("dep-p", "org_department", "PR-S"),
    "receiving_county": Caller("dep-r", "org_department", "CO-R"),
    "receiving": Caller("sec-r", "branch_secretary", "BR-R"),
    "outsider": Caller("sec-x", "branch_secretary", "BR-X"),
    "admin": Caller("admin", "admin", "CN"),
}


def allowed(who: str, facts: TransferFacts) -> list[str]:
    return domain.allowed_actions(CALLERS[who], facts, NOW)


def test_allowed_actions_are_the_permissions_granted():
    for facts in (
        at("sending_branch"),
        at("township", overdue=True),
        at(None, "returned"),
        at(None, "expired"),
    ):
        for who, caller in CALLERS.items():
            listed = domain.allowed_actions(caller, facts, NOW)
            assert listed == [
                a for a in domain.ACTIONS if domain.permission(a, caller, facts, NOW).allowed
            ], who


def test_who_may_do_what_at_the_sending_branch():
    facts = at("sending_branch")
    assert allowed("sending", facts) == ["approve", "reject", "return", "cancel", "urge"]
    assert allowed("member", facts) == ["cancel", "urge"]
    assert allowed("township", facts) == ["urge"] and allowed("county", facts) == ["urge"]
    assert allowed("admin", facts) == ["approve", "reject", "return", "cancel"]
    for nobody in ("other_member", "receiving", "outsider", "receiving_county"):
        assert allowed(nobody, facts) == [], nobody
    assert allowed("member", at(None, "letter_issued")) == ["cancel", "report"]
    assert allowed("receiving", at(None, "letter_issued")) == ["report"]
    assert allowed("sending", at(None, "expired")) == ["reissue"]
    assert allowed("member", at(None, "returned")) == ["resubmit", "cancel"]


def test_refusals_say_403_for_outsiders_and_409_for_parties_at_another_stage():
    facts = at("township")
    refusal = domain.permission("approve", CALLERS["outsider"], facts, NOW).refusal
    assert isinstance(refusal, Forbidden)
    assert isinstance(domain.permission("approve", CALLERS["sending"], facts, NOW).refusal, Conflict)
    assert isinstance(domain.permission("approve", CALLERS["receiving_county"], facts, NOW).refusal, Conflict)


def test_an_org_department_above_acts_for_an_overdue_stage_only():
    waiting = at("sending_branch")
    refusal = domain.permission("approve", CALLERS["county"], waiting, NOW).refusal
    assert isinstance(refusal, Forbidden)  # 403 before the stage is overdue
    overdue = replace(waiting, overdue=True)
    for who in ("county", "province"):
        granted = domain.permission("return", CALLERS[who], overdue, NOW)
        assert granted.allowed and granted.acting_for == "BR-S"
    # A township officer above is not an org department; a department elsewhere is not above.
    assert not domain.permission("approve", CALLERS["township"], overdue, NOW).allowed
    assert not domain.permission("approve", CALLERS["receiving_county"], overdue, NOW).allowed
    # The receiving county is above the receiving branch; the holder itself acts for no one.
    late_receiving = at("receiving_branch", overdue=True)
    assert domain.permission("approve", CALLERS["receiving_county"], late_receiving, NOW).acting_for == "BR-R"
    assert domain.permission("approve", CALLERS["receiving"], late_receiving, NOW).acting_for is None


def test_overdue_means_marked_or_past_due():
    assert domain.is_overdue(True, None, NOW)
    assert domain.is_overdue(False, NOW, NOW) and not domain.is_overdue(
        False, NOW + timedelta(seconds=1), NOW
    )


def test_an_urge_waits_24_hours_per_caller_and_stage():
    urged = at("sending_branch", urged_at=NOW - timedelta(hours=23))
    refusal = domain.permission("urge", CALLERS["member"], urged, NOW).refusal
    assert isinstance(refusal, domain.UrgedRecently) and refusal.status == 429
    assert 3600 <= refusal.retry_after <= 3601
    assert domain.permission(
        "urge", CALLERS["member"], replace(urged, urged_at=NOW - timedelta(hours=24)), NOW
    ).allowed
    assert isinstance(
        domain.permission("urge", CALLERS["member"], at(None, "returned"), NOW).refusal, Conflict
    )


def test_the_sending_branch_approves_only_paid_up_dues():
    behind = at("sending_branch", dues_months_behind=2)
    refusal = domain.permission("approve", CALLERS["sending"], behind, NOW).refusal
    assert isinstance(refusal, Conflict) and refusal.field == "dues_paid_through"
    assert domain.permission("return", CALLERS["sending"], behind, NOW).allowed
    assert domain.permission(
        "approve", CALLERS["township"], at("township", dues_months_behind=2), NOW
    ).allowed
    assert domain.months_behind("2026-10", date(2026, 12, 7)) == 2
    assert domain.months_behind("2026-12", date(2026, 12, 31)) == 0
    assert domain.months_behind("2025-12", date(2026, 1, 1)) == 1
    assert domain.months_behind(None, date(2026, 1, 1)) is None


def test_chains_are_stage_kinds_from_configuration():
    assert domain.parse_chain(CHAINS["cross_province"]) == (
        "sending_branch",
        "township",
        "county",
        "receiving_county",
        "receiving_branch",
    )
    assert domain.STAGE_KINDS["receiving_county"].role == "org_department"
    assert domain.stage_label("pending_receiving_county") == "接收方县级党委组织部审批"
    assert domain.stage_label("receiving_county") == "接收方县级党委组织部审批"
    assert domain.stage_of("pending_receiving_county") == "receiving_county"
    with pytest.raises(ValueError):
        domain.parse_chain("sending_branch,receiving_township")


def test_a_run_from_before_the_patch_keeps_its_four_kinds_on_resubmit():
    plan = Plan(
        to_branch_code="BR-R",
        route="cross_province",
        chain=["sending_branch", "township", "county", "receiving_county", "receiving_branch"],
        stage_orgs={
            "sending_branch": "BR-S",
            "township": "TW-S",
            "county": "CO-S",
            "receiving_county": "CO-R",
            "receiving_branch": "BR-R",
        },
        escalation_orgs={"receiving_county": "PR-R"},
        letter_validity_seconds=1.0,
        letter_county="CO-S",
    )
    legacy = TransferWorkflow._legacy_plan(plan)
    assert legacy.chain == ["sending_branch", "township", "county", "receiving_branch"]
    assert "receiving_county" not in legacy.stage_orgs
    four = replace(plan, chain=legacy.chain)
    assert TransferWorkflow._legacy_plan(four) is four
