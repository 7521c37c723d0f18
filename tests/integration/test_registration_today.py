""" "Today" is China's today: on a UTC server between 00:00 and 08:00 in China, a joined_on or
arrived_on of today in China was refused as a future date (the server's date.today() was still
yesterday). Over HTTP on the real database, with shared.clock stopped at 01:00 on 1 July."""

from datetime import UTC, datetime

import pytest

from services.registration.app import create_app
from shared import clock
from tests.support.builders import member_body, org_tree
from tests.support.tokens import ADMIN

AFTER_MIDNIGHT_IN_CHINA = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)  # 2026-07-01 01:00 CST


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


@pytest.fixture
def china_after_midnight(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: AFTER_MIDNIGHT_IN_CHINA)


def test_joined_on_and_arrived_on_of_today_in_china_are_accepted_and_tomorrow_refused(
    client, china_after_midnight
):
    codes = org_tree(client, ADMIN)
    other = org_tree(client, ADMIN)["branch"]

    def join(day: str):
        body = member_body(codes["branch"], joined_on=day, dues_paid_through="2026-07")
        return client.post("/api/v1/members", json=body, headers=ADMIN)

    def arrive(member_id: str, day: str):
        body = {"branch_code": other, "arrived_on": day, "current_address": "北京市", "occupation": "司机"}
        return client.post(f"/api/v1/members/{member_id}/inflows", json=body, headers=ADMIN)

    joined = join("2026-07-01")
    assert joined.status_code == 201, joined.get_json()
    arrived = arrive(joined.get_json()["id"], "2026-07-01")
    assert arrived.status_code == 201, arrived.get_json()
    early = join("2026-07-02")
    assert early.status_code == 422 and "joined_on" in early.get_json()["errors"]["json"]
    early_arrival = arrive(joined.get_json()["id"], "2026-07-02")
    assert early_arrival.status_code == 422 and "arrived_on" in early_arrival.get_json()["errors"]["json"]
