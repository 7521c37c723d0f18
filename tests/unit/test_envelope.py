import json

import pytest

from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.events import PoisonMessage, make_envelope, parse_envelope

DATA = {
    "checkin_id": "c1",
    "member_id": "m1",
    "member_name": "张三",
    "branch_code": "TJ-WQ-YC-01",
    "kind": "self",
    "occurred_at": "2026-11-01T08:00:00+00:00",
}


def test_envelope_is_cloudevents_structured_json():
    envelope = make_envelope(MEMBER_CHECKED_IN, "registration", "m1", DATA, correlation_id="corr-1")
    body = json.loads(envelope.to_json())
    assert body["specversion"] == "1.0"
    assert body["type"] == "registration.member_checked_in.v1"
    assert body["source"] == "/nuanliu/registration"
    assert body["subject"] == "m1"
    assert body["datacontenttype"] == "application/json"
    assert body["correlationid"] == "corr-1"
    assert body["data"]["member_name"] == "张三"
    assert parse_envelope(envelope.to_json()).id == envelope.id


def test_publisher_refuses_data_that_breaks_the_contract():
    with pytest.raises(ValueError, match="contract"):
        make_envelope(MEMBER_CHECKED_IN, "registration", "m1", {"member_id": "m1"})


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "not a JSON object"),
        (
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": "1",
                    "source": "/x",
                    "type": "nope.v1",
                    "time": "2026-01-01T00:00:00+00:00",
                    "data": {},
                }
            ).encode(),
            "unknown event type",
        ),
        (
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": "1",
                    "source": "/x",
                    "type": MEMBER_CHECKED_IN,
                    "time": "2026-01-01T00:00:00+00:00",
                    "data": {"member_id": 5},
                }
            ).encode(),
            "invalid",
        ),
        (
            json.dumps(
                {
                    "specversion": "0.3",
                    "id": "1",
                    "source": "/x",
                    "type": MEMBER_CHECKED_IN,
                    "time": "x",
                    "data": {},
                }
            ).encode(),
            "specversion",
        ),
    ],
)
def test_poison_messages_are_recognised(body, reason):
    with pytest.raises(PoisonMessage, match=reason):
        parse_envelope(body)


def test_readers_tolerate_added_fields():
    envelope = make_envelope(MEMBER_CHECKED_IN, "registration", "m1", DATA)
    raw = json.loads(envelope.to_json())
    raw["data"]["added_later"] = "ok"
    assert parse_envelope(json.dumps(raw).encode()).data["added_later"] == "ok"
