"""Every URL and query string the console builds is encoded (security review, findings 7 and 18):
ids and codes with `/`, `?`, `&`, `#` and `..` reach the API as one path segment or one query
value, never as another path or another parameter; full member records are not read for names."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.console.app import create_app
from shared.settings import Settings
from tests.support.console_http import csrf_header

EVIL = "a/../../ledger?org=CN&format=csv#x"


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def _answer(self) -> None:
        Recorder.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"items": [], "next_cursor": None}).encode()
        self.send_response(404 if "/orgs/" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def console() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    settings = Settings(service="console", service_urls={name: api for name in ("registration", "transfer", "tasks", "notify")})
    client = create_app(settings).test_client()
    signed = client.post(
        "/signin",
        data={"role": "branch_secretary", "org": "TJ-WQ-YC-01", "sub": "s1", "name": "王书记"},
        headers=csrf_header(client),
    )
    assert signed.status_code == 302
    Recorder.seen.clear()
    yield client
    server.shutdown()


def test_an_id_from_a_form_is_one_encoded_path_segment(console):
    console.post("/me/outflow", data={"member_id": EVIL, "destination_address": "x"}, headers=csrf_header(console))
    posted = [path for method, path in Recorder.seen if method == "POST"]
    assert posted == ["/api/v1/members/a%2F..%2F..%2Fledger%3Forg%3DCN%26format%3Dcsv%23x/outflows"]


def test_a_dots_only_id_never_leaves_the_console():
    from services.console.backend import ApiError, api_path

    for dots in ("..", ".", ""):
        with pytest.raises(ApiError):
            api_path("/api/v1/members/{}/outflows", dots)
    assert api_path("/api/v1/tasks/{}/claims/{}", "t 1", "m#2") == "/api/v1/tasks/t%201/claims/m%232"


def test_the_import_branch_cannot_add_parameters(console):
    console.post(
        "/ledger/import",
        data={"branch": "X&dry_run=false", "file_b64": "bmFtZQo=", "filename": "m.csv"},
        headers=csrf_header(console),
    )
    posted = [path for method, path in Recorder.seen if method == "POST"]
    assert posted == ["/api/v1/imports/members?branch=X%26dry_run%3Dfalse&dry_run=true"]


def test_roster_search_text_is_one_query_value(console):
    console.get("/roster", query_string={"q": "王&branch=CN#"})
    listed = [path for method, path in Recorder.seen if path.startswith("/api/v1/members?")]
    assert listed and "q=%E7%8E%8B%26branch%3DCN%23" in listed[0] and listed[0].count("branch=") == 1


def test_task_claimant_names_are_read_masked(console):
    from services.console.backend import Backend
    from services.console.views_tasks import _names

    with console.application.test_request_context("/"):
        config = console.application.extensions["console"]
        _names(Backend(config, token="t"), ["m/1"])
    reads = [path for method, path in Recorder.seen if path.startswith("/api/v1/members/")]
    assert reads == ["/api/v1/members/m%2F1?masked=true"]
