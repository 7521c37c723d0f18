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


def test_counting_a_write_starts_no_thread(settings_for, migrated, monkeypatch):
    """The budget's memory expires lazily: `limits`' MemoryStorage started a timer thread for its
    expiry sweep whenever the previous one had ended (about one per two writes under load)."""
    import threading

    migrated("notify")
    client = notify_app(settings_for("notify", write_rate_limit="1000/minute")).test_client()  # type: ignore[arg-type]
    headers = bearer("member", "BR-1", sub="m-threads")
    body = {"channels": {"inapp": True, "sms": False, "email": False, "webhook": False}, "locale": "zh-CN"}
    assert client.put("/api/v1/preferences", json=body, headers=headers).status_code == 200  # warm
    started: list[str] = []
    original = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    statuses = {client.put("/api/v1/preferences", json=body, headers=headers).status_code for _ in range(20)}
    assert statuses == {200}
    assert started == []


def test_a_window_ends_and_its_counts_are_swept(monkeypatch):
    import types

    from shared.web import limits

    now = [1_000_000.0]
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(time=lambda: now[0], monotonic=lambda: now[0]))
    budget = limits.WriteBudget("tasks", "2/minute;3/hour", "memory://")
    assert [budget.hit("sub:a"), budget.hit("sub:a")] == [None, None]
    assert budget.hit("sub:a") == 60  # the minute's third write: 429, Retry-After 60
    assert budget.hit("sub:b") is None  # another caller has their own budget
    now[0] += 61
    assert budget.hit("sub:a") is None  # a new minute; the hour's third write (a refused one is not)
    assert budget.hit("sub:a") == 3600 - 61  # the hour is spent
    storage = budget.memory.storage
    assert isinstance(storage, limits.ExpiringCounts)
    now[0] += 3600
    budget.hit("sub:c")  # the first write after the sweep is due drops the ended windows
    assert storage.get(next(iter(storage._counts))) == 1 and len(storage._counts) == 2  # sub:c's two windows


def test_writes_are_counted_in_memory_while_the_shared_store_is_away():
    from shared.web.limits import WriteBudget

    budget = WriteBudget("tasks", "2/minute", "redis://127.0.0.1:1/0")  # nothing listens there
    assert [budget.hit("sub:away") for _ in range(3)][:2] == [None, None]
    assert budget.hit("sub:away") is not None


def test_the_budget_is_shared_through_redis():
    import secrets

    import redis

    from shared.web.limits import WriteBudget

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    first, second = (WriteBudget("tasks", "2/minute", "redis://127.0.0.1:6379/0") for _ in range(2))
    caller = "sub:" + secrets.token_hex(8)  # its own key, so an earlier run's count does not leak in
    assert [first.hit(caller), second.hit(caller)] == [None, None]
    assert first.hit(caller) is not None and second.hit(caller) is not None
