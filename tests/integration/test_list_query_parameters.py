"""Every GET operation with query parameters, in every service's OpenAPI document, refuses a
query parameter it does not declare with a 422 naming it (a filter silently ignored returns the
wrong people); and every list (a page of items) declares its query parameters, so none escapes."""

from __future__ import annotations

import re

import pytest

from services.notify.app import create_app as notify_app
from services.registration.app import create_app as registration_app
from services.tasks.app import create_app as tasks_app
from services.transfer.app import create_app as transfer_app
from tests.support.tokens import ADMIN, bearer

APPS = {"registration": registration_app, "transfer": transfer_app, "tasks": tasks_app, "notify": notify_app}
# Callers tried in turn: an operation is checked as the first one its role rule lets in.
CALLERS = (
    ADMIN,
    bearer("org_department", "CN"),
    bearer("member", "CN", sub="m-unknown-params"),
    bearer("service", "CN", sub="svc"),
    {},
)
# A value every path parameter's pattern accepts (org codes, ids, letter numbers).
PATH_VALUE = "AB-2026-000001"
UNKNOWN = "zz_not_a_filter"


def operations(app) -> list[tuple[str, dict]]:
    spec = app.extensions["smorest_api"].spec.to_dict()
    return [(path, item["get"]) for path, item in spec["paths"].items() if "get" in item]


def query_names(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}


def is_page(operation: dict) -> bool:
    schema = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    return schema.get("schema", {}).get("$ref", "").endswith("Page")


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_query_taking_get_refuses_an_unknown_parameter_naming_it(service, settings_for, migrated):
    migrated(service)
    app = APPS[service](settings_for(service))
    client = app.test_client()
    checked = []
    for path, operation in operations(app):
        if is_page(operation):
            assert query_names(operation), f"{service} {path} lists without declared query parameters"
        if not query_names(operation):
            continue
        url = re.sub(r"\{[^}]+\}", PATH_VALUE, path)
        for headers in CALLERS:
            response = client.get(f"{url}?{UNKNOWN}=1", headers=headers)
            if response.status_code not in (401, 403):
                break
        assert response.status_code == 422, (service, path, response.status_code, response.get_json())
        assert UNKNOWN in response.get_json()["errors"]["query"], (service, path, response.get_json())
        checked.append(path)
    assert checked, f"{service}: no GET operation with query parameters was found"
    assert "/api/v1/audit" in checked
