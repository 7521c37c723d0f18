"""The client services call each other with, against a real HTTP server on a real socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from shared.errors import Unavailable
from shared.orgs import ServiceClient, ServiceCredentials
from shared.settings import DEV_JWT_SECRET

BODY = b'{"ok": true}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


class KeepAliveCloser:
    """Answers the first request of each connection and keeps it open, then closes it without an
    answer when the next request arrives on it: a keep-alive connection closed as it is reused."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answered = 0
        self.dropped = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def handle(self, connection: socket.socket) -> None:
        with connection:
            if not read_request(connection):
                return
            self.answered += 1  # counted before the client can see the answer
            connection.sendall(ANSWER)
            if read_request(connection):
                self.dropped += 1  # the request got no answer: the connection just closes


@pytest.fixture
def closer() -> Iterator[KeepAliveCloser]:
    server = KeepAliveCloser()
    yield server
    server.listener.close()


def client_for(port: int) -> ServiceClient:
    return ServiceClient(f"http://127.0.0.1:{port}", ServiceCredentials(DEV_JWT_SECRET, "test"), timeout=5.0)


def test_a_keep_alive_connection_closed_on_reuse_is_retried_on_a_new_one(closer):
    client = client_for(closer.port)
    for _ in range(3):
        response = client.request("POST", "/api/v1/anything", json={"a": 1})
        assert response.status_code == 200 and response.json() == {"ok": True}
    assert closer.answered == 3
    assert closer.dropped == 2  # the second and third calls each met a closed connection first


def test_a_server_that_is_down_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once closed
    with pytest.raises(Unavailable, match="unreachable"):
        client_for(port).request("GET", "/api/v1/orgs/CN")
