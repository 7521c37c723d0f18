"""The console application in-process: readiness names the API that is down; no page leaks a trace."""

from __future__ import annotations

import socket

from services.console.app import create_app
from shared.settings import Settings


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
        "/signin", data={"role": "branch_secretary", "org": "TJ-WQ-YC-01", "sub": "s1", "name": "王书记"}
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
    response = client.post("/signin?next=//evil.example/x", data={"demo": "admin"})
    assert response.status_code == 302 and not response.headers["Location"].startswith("//")
