"""Security review, finding 6: which addresses a webhook may reach (no I/O: literals and a fake resolver)."""

from __future__ import annotations

import ipaddress

import pytest

from services.notify.webhook_address import WebhookGuard, WebhookRefused, is_public, parse_networks
from shared.errors import InvalidInput


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.251", "255.255.255.255", "240.0.0.1", "::1", "::", "fe80::1",
        "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
        "2002:7f00:0001::1",
    ],
)  # fmt: skip
def test_internal_addresses_are_not_public(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))


def test_the_guard_checks_scheme_credentials_and_every_resolved_address() -> None:
    answers = {"hook.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.0.0.1"]}
    guard = WebhookGuard(resolver=lambda host, _port: answers[host])
    assert guard.resolve("https://hook.example/path?x=1").address == "93.184.216.34"
    assert guard.resolve("https://hook.example/path?x=1").path == "/path?x=1"
    for url, reason in [
        ("http://hook.example/", "https"),
        ("https://u:p@hook.example/", "credentials"),
        ("https://mixed.example/", "public"),
        ("https://hook.example:99999/", "port"),
    ]:
        with pytest.raises(WebhookRefused, match=reason):
            guard.resolve(url)
    with pytest.raises(InvalidInput) as refused:
        guard.check_saved("https://10.0.0.1/")
    assert refused.value.field == "webhook_url"
    allowed = WebhookGuard(allowed=parse_networks("10.0.0.0/8"), resolver=guard.resolver)
    assert allowed.resolve("https://mixed.example/").address == "93.184.216.34"
