"""The client services call each other with, against a real HTTP server on a real socket."""

from __future__ import annotations

import socket

import pytest

from shared.errors import Unavailable
from shared.orgs import ServiceClient, ServiceCredentials
from shared.settings import DEV_JWT_SECRET
from tests.support.keepalive import KeepAliveCloser


def client_for(port: int) -> ServiceClient:
    return ServiceClient(f"http://127.0.0.1:{port}", ServiceCredentials(DEV_JWT_SECRET, "test"), timeout=5.0)


def test_a_keep_alive_connection_closed_on_reuse_is_retried_on_a_new_one():
    with KeepAliveCloser() as closer:
        client = client_for(closer.port)
        for _ in range(3):
            response = client.request("POST", "/api/v1/anything", json={"a": 1})
            assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(closer.answered) == 3
    assert len(closer.dropped) == 2  # the second and third calls each met a closed connection first


def test_a_server_that_is_down_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once closed
    with pytest.raises(Unavailable, match="unreachable"):
        client_for(port).request("GET", "/api/v1/orgs/CN")
