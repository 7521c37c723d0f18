"""A filter that is silently ignored returns the wrong people: every list endpoint of every
service refuses a query parameter it does not know, with a 422 naming it."""

from __future__ import annotations

import pytest

from services.notify.app import create_app as notify_app
from services.registration.app import create_app as registration_app
from services.tasks.app import create_app as tasks_app
from services.transfer.app import create_app as transfer_app
from tests.support.tokens import ADMIN

LISTS = {
    "registration": (registration_app, ["/api/v1/orgs", "/api/v1/members", "/api/v1/checkins",
                                        "/api/v1/stations", "/api/v1/orgs/nearest?region=12",
                                        "/api/v1/stats/breakdown?org=CN&month=2026-03", "/api/v1/stats/flows?org=CN"]),
    "transfer": (transfer_app, ["/api/v1/transfers", "/api/v1/stats/transfers"]),
    "tasks": (tasks_app, ["/api/v1/tasks", "/api/v1/points?org=CN", "/api/v1/stats/tasks?org=CN"]),
    "notify": (notify_app, ["/api/v1/notifications", "/api/v1/deliveries"]),
}  # fmt: skip


@pytest.mark.parametrize("service", sorted(LISTS))
def test_an_unknown_filter_is_refused_naming_it(service, settings_for, migrated):
    migrated(service)
    factory, paths = LISTS[service]
    client = factory(settings_for(service)).test_client()
    for path in paths:
        joiner = "&" if "?" in path else "?"
        response = client.get(f"{path}{joiner}name=%E7%8E%8B", headers=ADMIN)
        assert response.status_code == 422, (path, response.get_json())
        assert "name" in response.get_json()["errors"]["query"], path
