"""Security review, finding 10: every write is rate limited. One limiter (shared.web.limits)
gives every POST, PUT, PATCH and DELETE route of every service and the console a budget per
caller (NUANLIU_WRITE_RATE_LIMIT); past it the answer is 429 with Retry-After."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from services.console.app import create_app as console_app
from services.console.settings import ConsoleSettings
from services.notify.app import create_app as notify_app
from services.registration.app import create_app as registration_app
from services.tasks.app import create_app as tasks_app
from services.transfer.app import create_app as transfer_app
from shared.settings import Settings, SettingsError
from shared.web.limits import WRITE_METHODS
from tests.support.tokens import bearer

FACTORIES: dict[str, Callable[[Settings], Flask]] = {
    "registration": registration_app,  # type: ignore[dict-item]
    "transfer": transfer_app,  # type: ignore[dict-item]
    "tasks": tasks_app,  # type: ignore[dict-item]
    "notify": notify_app,  # type: ignore[dict-item]
}
_addresses = (f"10.77.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def app_of(name: str, settings_for, migrated, tmp_path, limit: str) -> Flask:
    if name == "console":
        base = settings_for("console").with_overrides(
            var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'console.db'}"
        )
        return console_app(ConsoleSettings.of(base).with_overrides(write_rate_limit=limit))
    migrated(name)
    keys = {"signing_keys_dir": str(tmp_path)} if name == "registration" else {}
    return FACTORIES[name](settings_for(name, write_rate_limit=limit, **keys))


def path_of(rule: Rule) -> str:
    values = {
        argument: 1 if isinstance(rule._converters[argument], IntegerConverter) else "a1"
        for argument in rule.arguments
    }
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


@pytest.mark.parametrize("name", [*FACTORIES, "console"])
def test_every_write_route_is_limited(name, settings_for, migrated, tmp_path):
    app = app_of(name, settings_for, migrated, tmp_path, "1/hour")
    client = app.test_client()
    writes = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) & WRITE_METHODS)
    ]
    assert len(writes) >= 3, writes  # the walk found the app's writes
    unlimited = []
    for rule, method in writes:
        address = next(_addresses)  # a caller of its own: its one write of the hour, then 429
        path = path_of(rule)
        first = client.open(path, method=method, environ_base={"REMOTE_ADDR": address})
        second = client.open(path, method=method, environ_base={"REMOTE_ADDR": address})
        if second.status_code != 429 or int(second.headers.get("Retry-After", "0")) <= 0:
            unlimited.append((method, rule.rule, first.status_code, second.status_code))
    assert not unlimited, unlimited
    # Reads are not counted.
    reads = [
        rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ()) and not rule.arguments
    ]
    address = next(_addresses)
    for _ in range(3):
        assert client.get(reads[0].rule, environ_base={"REMOTE_ADDR": address}).status_code != 429


def test_the_budget_is_per_caller_and_services_are_not_counted(settings_for, migrated):
    migrated("notify")
    client = notify_app(settings_for("notify", write_rate_limit="2/minute")).test_client()  # type: ignore[arg-type]
    first, second = bearer("member", "BR-1", sub="m-limit-1"), bearer("member", "BR-1", sub="m-limit-2")
    body = {"channels": {"inapp": True, "sms": False, "email": False, "webhook": False}, "locale": "zh-CN"}
    statuses = [client.put("/api/v1/preferences", json=body, headers=first).status_code for _ in range(2)]
    assert statuses == [200, 200]
    refused = client.put("/api/v1/preferences", json=body, headers=first)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Any write counts against the same budget; another caller has their own; reads are free.
    assert client.post("/api/v1/notifications/n1/read", headers=first).status_code == 429
    assert client.put("/api/v1/preferences", json=body, headers=second).status_code == 200
    assert client.get("/api/v1/preferences", headers=first).status_code == 200
    # Other services' calls are not counted.
    service = bearer("service", "CN", sub="svc:transfer")
    assert all(
        client.put("/api/v1/preferences", json=body, headers=service).status_code != 429 for _ in range(4)
    )


def test_the_write_limit_is_configurable_and_checked():
    assert Settings.from_env("tasks", {}).effective_write_rate_limit == "100000/hour"
    production = Settings(service="tasks", environment="production")
    assert production.effective_write_rate_limit == "60/minute;1000/hour"
    custom = Settings.from_env("tasks", {"NUANLIU_WRITE_RATE_LIMIT": "5/second"})
    assert custom.effective_write_rate_limit == "5/second"
    with pytest.raises(SettingsError, match="NUANLIU_WRITE_RATE_LIMIT"):
        Settings.from_env("tasks", {"NUANLIU_WRITE_RATE_LIMIT": "lots"})


def test_console_people_are_counted_each_by_name_not_by_the_proxy_address(settings_for, migrated, tmp_path):
    from flask import session

    from shared.web.limits import caller_key

    app = app_of("console", settings_for, migrated, tmp_path, "1/hour")
    keys = []
    for person in ("sec-1", "sec-2", None):
        with app.test_request_context("/", method="POST", environ_base={"REMOTE_ADDR": "10.0.0.1"}):
            if person:
                session["user"] = {"sub": person, "role": "branch_secretary", "org": "B1", "name": "王书记"}
            keys.append(caller_key())
    assert keys[0] != keys[1] and keys[0].startswith("sub:") and keys[2] == "addr:10.0.0.1"
