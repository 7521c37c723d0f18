"""Notify as processes: a check-in over HTTP reaches the branch secretary's inbox and their
e-mail (a real local SMTP server) through the relay, the consumer and the dispatcher."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.test_checkin_slice import create_branch
from tests.support.builders import member_body
from tests.support.infra import delete_topology
from tests.support.mailbox import Mailbox, running_mailbox
from tests.support.stack import Stack
from tests.support.tokens import ADMIN, bearer

PROCESSES = ("registration-api", "registration-relay", "notify-api", "notify-consumer", "notify-dispatcher")


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[int, Mailbox]]:
    with running_mailbox() as relay:
        yield relay


@pytest.fixture(scope="module")
def notify_stack(stack_env, broker_prefix, mailbox, tmp_path_factory) -> Iterator[Stack]:
    prefix = f"{broker_prefix}e2e.notify."
    env = {
        **stack_env,
        "NUANLIU_BROKER_PREFIX": prefix,
        "NUANLIU_SMTP_PORT": str(mailbox[0]),
        "NUANLIU_DISPATCHER_POLL_INTERVAL": "0.1",
        "NUANLIU_DIGEST_HOUR": "24",  # no digest in this test
    }
    stack = Stack(tmp_path_factory.mktemp("notify-logs"), env)
    stack.start(*PROCESSES)
    try:
        stack.wait_ready("registration", "notify")
        yield stack
    finally:
        stack.stop()
        delete_topology(prefix, ["notify"])


def test_checkin_reaches_the_secretary_inbox_and_email(notify_stack, mailbox):
    registration, notify = notify_stack.url("registration"), notify_stack.url("notify")
    branch = create_branch(registration)
    secretary = bearer("branch_secretary", branch, sub=f"sec-{branch}")
    preferences = {"channels": {"inapp": True, "email": True}, "locale": "zh-CN", "email": "sec@example.org"}
    saved = requests.put(f"{notify}/api/v1/preferences", json=preferences, headers=secretary, timeout=10)
    assert saved.status_code == 200, saved.text
    member = requests.post(
        f"{registration}/api/v1/members", json=member_body(branch, name="钱敏"), headers=ADMIN, timeout=10
    ).json()
    checkin = requests.post(
        f"{registration}/api/v1/checkins",
        json={"member_id": member["id"], "branch_code": branch, "kind": "self"},
        headers=bearer("member", branch, sub=member["id"]),
        timeout=10,
    )
    assert checkin.status_code == 201, checkin.text

    deadline = time.monotonic() + 30
    mails: list[email.message.EmailMessage] = []
    while time.monotonic() < deadline and not mails:
        mails = [m for m in mailbox[1].messages if "钱敏" in str(m["Subject"])]
        time.sleep(0.2)
    assert mails, notify_stack.tail("notify-dispatcher") + notify_stack.tail("notify-consumer")
    assert mails[0]["To"] == "sec@example.org" and branch in mails[0].get_content()

    inbox = requests.get(f"{notify}/api/v1/notifications", headers=secretary, timeout=10).json()["items"]
    checkins = [n for n in inbox if n["type"] == "registration.member_checked_in.v1"]
    assert len(checkins) == 1 and "钱敏" in checkins[0]["title"]
    unread = requests.get(f"{notify}/api/v1/notifications/unread_count", headers=secretary, timeout=10).json()
    assert unread["unread"] >= 1

    story = requests.get(
        f"{notify}/api/v1/deliveries?event_id={checkins[0]['event_id']}", headers=ADMIN, timeout=10
    ).json()["items"]
    # Sent on the first attempt, and only once: nothing else may have claimed this delivery.
    assert ("email", "sent", 1) in {(d["channel"], d["status"], d["attempts"]) for d in story}, story
    assert len([m for m in mailbox[1].messages if "钱敏" in str(m["Subject"])]) == 1
    assert requests.get(f"{notify}/api/v1/deliveries", headers=secretary, timeout=10).status_code == 403
