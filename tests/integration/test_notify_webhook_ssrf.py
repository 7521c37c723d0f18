"""Security review, finding 6: webhooks cannot be aimed at the system's own network.

At `PUT /preferences`: https only outside development, public addresses only, no credentials in
the URL (422 naming `webhook_url`). At send time the host is resolved once (a resolver seam
stands in for DNS changing its answer), checked again, and that very address is connected to;
redirects are not followed; the signature uses the subscriber's own secret and a timestamp."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from services.notify import commands, domain
from services.notify.app import create_app
from services.notify.channels import DeliveryError, OutgoingMessage, PermanentFailure
from services.notify.channels.webhook import SIGNATURE_HEADER, WebhookChannel
from services.notify.unit_of_work import NotifyUnitOfWork
from services.notify.webhook_address import WebhookGuard, parse_networks
from shared.auth import Principal
from shared.db import new_id
from tests.support.stack import free_port
from tests.support.tokens import bearer, production_signer

GLOBAL_SECRET = "global-webhook-secret-for-old-subscribers"


class Robot(BaseHTTPRequestHandler):
    """Records each POST (path, Host, headers, body); `/hop` redirects to `/ok`."""

    received: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Robot.received.append((self.path, self.headers.get("Host", ""), dict(self.headers), body))
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/ok")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def robot() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Robot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("notify")
    return create_app(settings_for("notify")).test_client()


def put_webhook(client, url: str, sub: str = "m-hook") -> tuple[int, dict]:
    body = {"channels": {"inapp": True, "webhook": True}, "webhook_url": url}
    response = client.put("/api/v1/preferences", json=body, headers=bearer("member", "BR-1", sub))
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/ok",
        "http://localhost:{port}/ok",  # a name: resolved, and it is loopback
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0:{port}/",
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[fd00:ec2::254]/",
        "https://user:secret@93.184.216.34/hook",
    ],
)
def test_internal_addresses_and_credentials_are_refused_when_saved(client, robot, url):
    status, body = put_webhook(client, url.format(port=robot))
    assert status == 422, body
    assert "webhook_url" in body["errors"]["json"]


def test_a_public_url_is_saved_with_a_secret_shown_once(client):
    status, body = put_webhook(client, "https://93.184.216.34/hook", sub="m-public")
    assert status == 200, body
    secret = body["webhook_secret"]
    assert len(secret) >= 32
    shown = client.get("/api/v1/preferences", headers=bearer("member", "BR-1", "m-public")).get_json()
    assert shown["webhook_url"] == "https://93.184.216.34/hook" and "webhook_secret" not in shown
    # Saving the same URL again keeps the secret (and does not show it); a new URL gets a new one.
    status, again = put_webhook(client, "https://93.184.216.34/hook", sub="m-public")
    assert status == 200 and "webhook_secret" not in again
    status, moved = put_webhook(client, "https://93.184.216.35/hook", sub="m-public")
    assert status == 200 and moved["webhook_secret"] not in (None, secret)


def test_production_takes_https_only(settings_for, migrated):
    migrated("notify")
    production = settings_for("notify", environment="production", ratelimit_storage="memory://")
    app = create_app(production)
    sign = production_signer(app)
    body = {"channels": {"inapp": True, "webhook": True}, "webhook_url": "http://93.184.216.34/hook"}
    response = app.test_client().put("/api/v1/preferences", json=body, headers=sign("member", "BR-1", "m-hook"))
    status, body = response.status_code, response.get_json()
    assert status == 422 and "https" in body["errors"]["json"]["webhook_url"][0]


class Resolver:
    """DNS as the dispatcher sees it at send time; counts the lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        return self.answers[host]


def message(url: str, secret: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(new_id(), new_id(), "webhook", url, "标题", "正文", "queued", 0, secret)


def test_a_name_that_resolves_to_a_private_address_at_send_time_is_refused(robot):
    # Saved while it resolved to a public address; now DNS answers 127.0.0.1.
    resolver = Resolver({"robot.example": ["127.0.0.1"]})
    channel = WebhookChannel(GLOBAL_SECRET, guard=WebhookGuard(allow_http=True, resolver=resolver))
    before = len(Robot.received)
    with pytest.raises(PermanentFailure, match="not a public address"):
        channel.send(message(f"http://robot.example:{robot}/ok"))
    assert len(Robot.received) == before
    # One answer with an internal address among public ones refuses the name too.
    resolver.answers["robot.example"] = ["93.184.216.34", "10.0.0.5"]
    with pytest.raises(PermanentFailure):
        channel.send(message(f"http://robot.example:{robot}/ok"))
    with pytest.raises(PermanentFailure, match="credentials"):
        channel.send(message(f"http://user:pw@robot.example:{robot}/ok"))


def test_the_checked_address_is_the_one_connected_to_and_redirects_are_not_followed(robot):
    # The operator allowed loopback (as for an on-premises robot): the name is looked up once and
    # its checked address is used, with the name in the Host header.
    resolver = Resolver({"robot.example": ["127.0.0.1"]})
    guard = WebhookGuard(allow_http=True, allowed=parse_networks("127.0.0.0/8"), resolver=resolver)
    channel = WebhookChannel(GLOBAL_SECRET, guard=guard)
    channel.send(message(f"http://robot.example:{robot}/ok"))
    assert resolver.lookups == 1
    path, host, _, _ = Robot.received[-1]
    assert (path, host) == ("/ok", f"robot.example:{robot}")

    before = len(Robot.received)
    with pytest.raises(PermanentFailure, match="redirect"):
        channel.send(message(f"http://robot.example:{robot}/hop"))
    assert [r[0] for r in Robot.received[before:]] == ["/hop"]  # /ok was not asked


def test_the_signature_uses_the_subscribers_own_secret_and_a_timestamp(settings_for, migrated, robot):
    database = migrated("notify")
    guard = WebhookGuard(allow_http=True, allowed=parse_networks("127.0.0.0/8"))
    sub = f"m-{new_id()}"
    wanted = domain.Preferences(
        channels=domain.Channels(webhook=True), webhook_url=f"http://127.0.0.1:{robot}/ok"
    )
    saved = commands.update_preferences(
        NotifyUnitOfWork(database),
        Principal(sub, "member", "BR-1"),
        commands.UpdatePreferences(wanted),
        guard,
    )
    assert saved.webhook_secret
    channel = WebhookChannel(GLOBAL_SECRET, guard=guard)
    sent = message(f"http://127.0.0.1:{robot}/ok", saved.webhook_secret)
    channel.send(sent)
    _, _, headers, body = next(r for r in Robot.received if sent.delivery_id.encode() in r[3])
    parts = dict(item.split("=", 1) for item in headers[SIGNATURE_HEADER].split(","))
    assert abs(int(parts["t"]) - time.time()) < 60
    expected = hmac.new(saved.webhook_secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())
    wrong = hmac.new(GLOBAL_SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    assert parts["v1"] != wrong.hexdigest()


@pytest.fixture(scope="module")
def tls_robot(tmp_path_factory) -> Iterator[tuple[int, str, list[str]]]:
    """An https robot whose certificate names robot.example; records the SNI names it is asked for."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=robot.example",
         "-addext", "subjectAltName=DNS:robot.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _socket, name, _context: names.append(name or "")  # type: ignore[assignment,func-returns-value]
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Robot)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], str(cert), names
    server.shutdown()
    server.server_close()


def test_https_connects_to_the_checked_address_with_the_name_in_sni_and_the_certificate(tls_robot):
    port, ca_file, names = tls_robot
    resolver = Resolver({"robot.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    guard = WebhookGuard(allowed=parse_networks("127.0.0.0/8"), resolver=resolver)
    channel = WebhookChannel(GLOBAL_SECRET, guard=guard, ca_file=ca_file)
    channel.send(message(f"https://robot.example:{port}/ok"))
    assert names[-1] == "robot.example" and Robot.received[-1][1] == f"robot.example:{port}"
    # The same address under a name its certificate does not carry: refused by TLS.
    with pytest.raises(DeliveryError, match="unreachable"):
        channel.send(message(f"https://other.example:{port}/ok"))
