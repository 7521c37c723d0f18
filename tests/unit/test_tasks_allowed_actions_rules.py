"""The pure rules behind `allowed_actions` (services/tasks/domain.py): one function per action
decides, and allowed_actions lists exactly the actions whose function does not refuse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.tasks import domain
from services.tasks.domain import ACTIONS, Standing
from shared.errors import Conflict, Forbidden, NotFound

OFFICER = Standing(
    role="township_officer",
    subject="officer-1",
    org="T1",
    in_scope=True,
    open_to_branch=False,
    status=domain.OPEN,
    capacity=2,
    claimed=0,
    lead_member_id=None,
    claimant=False,
)
MEMBER = replace(OFFICER, role="member", subject="m-1", org="B1", in_scope=False, open_to_branch=True)


def test_a_full_task_offers_no_claim_and_says_why():
    full = replace(MEMBER, status=domain.IN_PROGRESS, claimed=2, lead_member_id="m-0")
    assert "claim" not in domain.allowed_actions(full)
    with pytest.raises(Conflict, match="full"):
        domain.check_claim(full)
    assert "assign" not in domain.allowed_actions(replace(OFFICER, status=domain.IN_PROGRESS, claimed=2))


def test_the_lead_cap_stops_only_a_claim_that_would_lead():
    capped = replace(MEMBER, leads=5, max_led=5)
    assert domain.allowed_actions(capped) == []
    helper = replace(capped, status=domain.IN_PROGRESS, claimed=1, lead_member_id="m-0")
    assert domain.allowed_actions(helper) == ["claim"]


@pytest.mark.parametrize(
    ("standing", "expected"),
    [
        (replace(OFFICER, status=domain.DRAFT), ["publish", "cancel"]),
        (OFFICER, ["assign", "cancel"]),
        (
            replace(OFFICER, status=domain.IN_PROGRESS, claimed=1, lead_member_id="m-1"),
            ["withdraw", "assign", "cancel"],
        ),
        (replace(OFFICER, status=domain.COMPLETED, claimed=1, lead_member_id="m-1"), ["evaluate"]),
        (replace(OFFICER, in_scope=False), []),
        (replace(OFFICER, role="service", in_scope=True), []),
        (replace(OFFICER, role="admin", org="CN"), ["assign", "cancel"]),
        (MEMBER, ["claim"]),
        (replace(MEMBER, open_to_branch=False), []),
        (
            replace(MEMBER, status=domain.IN_PROGRESS, claimed=1, lead_member_id="m-1", claimant=True),
            ["withdraw", "progress", "complete"],
        ),
        (
            replace(MEMBER, status=domain.IN_PROGRESS, claimed=2, lead_member_id="m-0", claimant=True),
            ["withdraw", "progress"],
        ),
        (replace(MEMBER, status=domain.COMPLETED, claimed=1, lead_member_id="m-0"), ["evaluate"]),
        (replace(MEMBER, status=domain.COMPLETED, claimed=1, lead_member_id="m-0", evaluated=True), []),
        (replace(MEMBER, status=domain.COMPLETED, claimed=1, lead_member_id="m-1", claimant=True), []),
        (replace(MEMBER, role="branch_secretary", status=domain.COMPLETED), ["evaluate"]),
        (replace(MEMBER, status=domain.EVALUATED), []),
        (replace(MEMBER, status=domain.CANCELLED), []),
    ],
)
def test_allowed_actions_are_the_actions_whose_rule_does_not_refuse(standing, expected):
    assert domain.allowed_actions(standing) == expected
    for action in ACTIONS:
        check = domain._CHECKS[action]
        if action in expected:
            check(standing)
        else:
            with pytest.raises((Forbidden, Conflict, NotFound)):
                check(standing)


def test_a_member_withdraws_only_their_own_claim():
    holding = replace(MEMBER, status=domain.IN_PROGRESS, claimed=1, claimant=True)
    domain.check_withdraw(holding, "m-1")
    with pytest.raises(Forbidden):
        domain.check_withdraw(holding, "m-2", True)
    with pytest.raises(NotFound):
        domain.check_withdraw(replace(OFFICER, status=domain.IN_PROGRESS, claimed=1), "m-9", False)
