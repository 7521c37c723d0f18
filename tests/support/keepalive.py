"""A real HTTP server on a real socket that closes each kept connection as it is reused."""

from __future__ import annotations

import socket
import threading

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


def header(request: bytes, name: str) -> str | None:
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


class KeepAliveCloser:
    """Answers the first request of each connection and keeps it open, then closes it without an
    answer when the next request arrives on it: a keep-alive connection closed as it is reused.
    Keeps the head of every request it answered and of every one it dropped."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answered: list[bytes] = []
        self.dropped: list[bytes] = []
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
            first = read_request(connection)
            if not first:
                return
            self.answered.append(first)  # kept before the client can see the answer
            connection.sendall(ANSWER)
            second = read_request(connection)
            if second:
                self.dropped.append(second)  # no answer: the connection just closes

    def __enter__(self) -> KeepAliveCloser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
