"""The console application in-process: readiness names the API that is down; no page leaks a trace;
a kept connection closed as it is reused is tried again."""

from __future__ import annotations

import socket

from services.console.app import create_app
from services.console.backend import Backend
from shared.settings import Settings
from tests.support.console_http import csrf_header
from tests.support.keepalive import KeepAliveCloser, header


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def console_with_nothing_behind_it():
    dead = f"http://127.0.0.1:{closed_port()}"
    settings = Settings(
        service="console",
        service_urls={name: dead for name in ("registration", "transfer", "tasks", "notify")},
    )
    return create_app(settings).test_client()


def test_readiness_names_every_api_it_cannot_reach():
    client = console_with_nothing_behind_it()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert sorted(response.get_json()["down"]) == ["notify", "registration", "tasks", "transfer"]


def test_an_unreachable_api_is_a_plain_page_not_a_trace():
    client = console_with_nothing_behind_it()
    signed = client.post(
        "/signin",
        data={"role": "branch_secretary", "org": "TJ-WQ-YC-01", "sub": "s1", "name": "王书记"},
        headers=csrf_header(client),
    )
    assert signed.status_code == 302
    page = client.get("/inbox")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "服务暂时不可用" in text and "Traceback" not in text
    assert "王书记" in text and "TJ-WQ-YC-01" in text  # who is signed in, and where


def test_sign_in_page_lists_demo_identities_even_when_registration_is_down():
    client = console_with_nothing_behind_it()
    page = client.get("/signin").get_data(as_text=True)
    assert "王书记（武清杨村第一社区）" in page and "利川市委组织部" in page


def test_next_only_goes_to_our_own_pages():
    client = console_with_nothing_behind_it()
    response = client.post("/signin?next=//evil.example/x", data={"demo": "admin"}, headers=csrf_header(client))
    assert response.status_code == 302 and not response.headers["Location"].startswith("//")


def test_a_kept_connection_closed_as_it_is_reused_is_tried_again_with_the_same_key():
    with KeepAliveCloser() as closer:
        api = f"http://127.0.0.1:{closer.port}"
        settings = Settings(
            service="console",
            service_urls={name: api for name in ("registration", "transfer", "tasks", "notify")},
        )
        backend = Backend(settings, token="t")
        for _ in range(3):
            assert backend.post("/api/v1/transfers", {"member_id": "m1"}) == {"ok": True}
        assert backend.get("/api/v1/orgs/CN") == {"ok": True}
    assert len(closer.answered) == 4
    assert len(closer.dropped) == 3  # every call after the first met a closed connection first
    # A dropped POST went again on a new connection with the same key, and the three POSTs had
    # three keys: the API can tell a repeat from a new action.
    for dropped, answered in zip(closer.dropped[:2], closer.answered[1:3], strict=True):
        assert header(dropped, "Idempotency-Key") == header(answered, "Idempotency-Key")
    keys = {header(request, "Idempotency-Key") for request in closer.answered[:3]}
    assert len(keys) == 3 and None not in keys
