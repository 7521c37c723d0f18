"""Names an event lacks, read from a running registration service (issue 21): an older
transfer event names its branches by code only, a task event names its member by id only; the
consumer looks them up with notify's service token (orgs, and members masked) so the notices
name them, and uses a neutral phrase, never the code or id, while registration is down."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from services.notify import consumer as notify_events
from services.notify.directory import RegistrationDirectory
from services.registration.app import create_app as registration_app
from shared.events import make_envelope
from shared.orgs import ServiceClient, ServiceCredentials
from shared.settings import DEV_JWT_SECRET
from tests.support.builders import member_body, org_tree
from tests.support.notify_events import samples
from tests.support.stack import free_port
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def registration(settings_for, migrated) -> Iterator[tuple[str, object]]:
    migrated("registration")
    app = registration_app(settings_for("registration"))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", app.test_client()
    server.shutdown()


@pytest.fixture(scope="module")
def notify_client(settings_for, migrated):
    from services.notify.app import create_app

    migrated("notify")
    return create_app(settings_for("notify")).test_client()


def directory(url: str) -> RegistrationDirectory:
    return RegistrationDirectory(ServiceClient(url, ServiceCredentials(DEV_JWT_SECRET, "notify"), timeout=2.0))


def bodies(client, headers) -> list[str]:
    items = client.get("/api/v1/notifications?limit=100", headers=headers).get_json()["items"]
    return [f"{n['title']} {n['body']}" for n in items]


def test_older_events_are_named_through_registration(registration, notify_client, migrated):
    url, client = registration
    tree = org_tree(client, ADMIN)
    other = org_tree(client, ADMIN)
    made = client.post("/api/v1/members", json=member_body(tree["branch"], name="孙丽"), headers=ADMIN)
    assert made.status_code == 201
    member_id = made.get_json()["id"]
    names = directory(url)
    # An older transfer event: codes only.
    data, _ = samples()["transfer.completed.v1"]
    data.update(from_branch_code=tree["branch"], to_branch_code=other["branch"], member_id=member_id)
    completed = make_envelope("transfer.completed.v1", "test", "s", data)
    notify_events.handle_event(migrated("notify"), completed, names=names)
    sending = bearer("branch_secretary", tree["branch"], "sec-names")
    (text,) = [t for t in bodies(notify_client, sending) if "已转出" in t and data["member_name"] in t]
    assert f"branch {other['branch']}" in text  # the receiving branch by its registered name
    # A task event names its member by id only.
    task, _ = samples()["tasks.task_claimed.v1"]
    task.update(member_id=member_id, org_code=tree["township"])
    claimed = make_envelope("tasks.task_claimed.v1", "test", "s", task)
    notify_events.handle_event(migrated("notify"), claimed, names=names)
    officer = bearer("township_officer", tree["township"], "officer-names")
    (text,) = [t for t in bodies(notify_client, officer) if "认领了" in t]
    assert "孙丽认领了" in text and member_id not in text


def test_registration_down_means_neutral_words_not_codes(notify_client, migrated):
    names = directory(f"http://127.0.0.1:{free_port()}")  # nothing listens
    task, _ = samples()["tasks.task_claimed.v1"]
    claimed = make_envelope("tasks.task_claimed.v1", "test", "s", task)
    notify_events.handle_event(migrated("notify"), claimed, names=names)
    officer = bearer("township_officer", task["org_code"], "officer-down")
    (text,) = [t for t in bodies(notify_client, officer) if "认领了" in t]
    assert "一名党员认领了" in text and task["member_id"] not in text
