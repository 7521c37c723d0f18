"""Members' sign-in codes through the SMS gateway (NUANLIU_SMS_PROVIDER=aliyun): the code goes to
the member's registered phone under the `otp` template, checked by a local gateway that verifies
every request as the provider documents it; strangers and gateway faults are answered exactly as
members are (no oracle); `disabled` refuses everyone alike."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest

from services.registration.app import create_app
from tests.support.builders import member_body, org_tree
from tests.support.sms_gateway import KEY_ID, KEY_SECRET, SIGN_NAME, Gateway, running_gateway
from tests.support.tokens import ADMIN

OTP_TEMPLATE = "SMS_200000001"


@pytest.fixture
def gateway_url():
    with running_gateway({OTP_TEMPLATE: {"code"}}) as url:
        yield url


@pytest.fixture
def client(settings_for, migrated, tmp_path_factory, gateway_url):
    migrated("registration")
    settings = settings_for(
        "registration",
        signing_keys_dir=str(tmp_path_factory.mktemp("keys")),
        auth_rate_limit="1000/minute",
        sms_provider="aliyun",
        sms_gateway_url=gateway_url,
        sms_access_key_id=KEY_ID,
        sms_access_key_secret=KEY_SECRET,
        sms_sign_name=SIGN_NAME,
        sms_templates=f"otp={OTP_TEMPLATE}",
    )
    return create_app(settings).test_client()


def sent(count: int, timeout: float = 10.0) -> list[dict[str, str]]:
    """The gateway's accepted requests once `count` have come (the send leaves the request)."""
    deadline = time.monotonic() + timeout
    while len(Gateway.accepted) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(Gateway.accepted)


def test_the_code_goes_to_the_registered_phone_and_signs_the_member_in(client):
    tree = org_tree(client, ADMIN)
    body = member_body(tree["branch"])
    member = client.post("/api/v1/members", json=body, headers=ADMIN).get_json()
    assert client.post("/api/v1/otp", json={"phone": body["phone"]}).status_code == 202
    (request,) = sent(1)
    assert Gateway.refused == []
    assert request["PhoneNumbers"] == body["phone"] and request["TemplateCode"] == OTP_TEMPLATE
    assert request["OutId"].startswith("otp-")
    code = json.loads(request["TemplateParam"])["code"]
    assert len(code) == 6 and code.isdigit()
    answer = client.post(
        "/api/v1/tokens", json={"grant_type": "sms_otp", "phone": body["phone"], "code": code}
    )
    assert answer.status_code == 200, answer.get_json()
    claims = jwt.decode(answer.get_json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"]) == (member["id"], "member")


def test_strangers_and_gateway_faults_get_the_same_answer_and_no_phone_is_logged(client, caplog):
    tree = org_tree(client, ADMIN)
    body = member_body(tree["branch"])
    client.post("/api/v1/members", json=body, headers=ADMIN)
    stranger = "19" + body["phone"][2:]
    assert client.post("/api/v1/otp", json={"phone": stranger}).status_code == 202
    Gateway.script = [(200, "isv.MOBILE_NUMBER_ILLEGAL")]  # the provider refuses the member's number
    with caplog.at_level(logging.WARNING):
        answer = client.post("/api/v1/otp", json={"phone": body["phone"]})
        deadline = time.monotonic() + 10  # the send, and its warning, come after the answer
        while "a sign-in code was not sent" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert answer.status_code == 202 and answer.get_json() == {"status": "accepted"}
    assert Gateway.accepted == [] and Gateway.refused == []  # the stranger got nothing sent
    assert "a sign-in code was not sent" in caplog.text
    assert body["phone"] not in caplog.text and stranger not in caplog.text


def test_disabled_sms_refuses_every_phone_alike(settings_for, migrated, tmp_path_factory):
    migrated("registration")
    settings = settings_for(
        "registration",
        signing_keys_dir=str(tmp_path_factory.mktemp("keys")),
        auth_rate_limit="1000/minute",
        sms_provider="disabled",
    )
    client = create_app(settings).test_client()
    tree = org_tree(client, ADMIN)
    body = member_body(tree["branch"])
    client.post("/api/v1/members", json=body, headers=ADMIN)
    for phone in (body["phone"], "19" + body["phone"][2:]):
        answer = client.post("/api/v1/otp", json={"phone": phone})
        assert answer.status_code == 503, answer.get_json()
