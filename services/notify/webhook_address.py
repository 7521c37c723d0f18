"""Where a webhook may point: a public address, never the system's own network.

Checked twice (security review, finding 6): when a person saves the URL (`PUT /preferences`,
422 naming `webhook_url`) and again at each send, after resolving the name, because DNS can
answer differently later. The send then connects to the very address it checked (see
channels/webhook.py), so no second lookup can swap it for an internal one.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from shared.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A name (and port) to the addresses it resolves to: the seam tests replace.
Resolver = Callable[[str, int], Sequence[str]]

# IPv6 prefix of NAT64, whose last 32 bits are an IPv4 address (RFC 6052).
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class WebhookRefused(ValueError):
    """The URL may not be called: not https, credentials in it, or an address that is not public."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise WebhookRefused(f"its host {host} does not resolve") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address: not loopback, private, link-local (the cloud metadata
    address 169.254.169.254 is one), shared CGNAT space, multicast, reserved or unspecified; an
    IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


@dataclass(frozen=True)
class Target:
    """A checked webhook: connect to `address`, and name `host` in the Host header and SNI."""

    url: SplitResult
    host: str
    port: int
    address: str

    @property
    def path(self) -> str:
        return (self.url.path or "/") + (f"?{self.url.query}" if self.url.query else "")


def parse_networks(text: str) -> tuple[Network, ...]:
    """`NUANLIU_WEBHOOK_ALLOW_NETWORKS`: comma-separated CIDRs that may be reached although not public."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class WebhookGuard:
    """Checks webhook URLs. `allow_http` only in development; `allowed` networks only as configured."""

    allow_http: bool = False
    allowed: tuple[Network, ...] = ()
    resolver: Resolver = field(default=system_resolver)

    def check_url(self, url: str) -> SplitResult:
        """The checks that need no lookup."""
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise WebhookRefused("must be an https URL")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise WebhookRefused("must not carry credentials (user:password@)")
        try:
            parts.port  # noqa: B018 (raises on a malformed port)
        except ValueError as error:
            raise WebhookRefused("has a malformed port") from error
        if not parts.hostname:
            raise WebhookRefused("has no host")
        return parts

    def resolve(self, url: str) -> Target:
        """Resolve the URL's host once and check every address it has; the first is the one to use."""
        parts = self.check_url(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self._addresses(host, port)
        if not addresses:
            raise WebhookRefused(f"its host {host} does not resolve")
        for text in addresses:
            if not self.permits(text):
                # Any internal answer refuses the whole name: a resolver may rotate its answers.
                raise WebhookRefused(f"its host {host} is not a public address")
        return Target(parts, host, port, addresses[0])

    def check_saved(self, url: str | None) -> None:
        """A URL being saved: 422 naming `webhook_url` if it may not be called."""
        if url:
            try:
                self.resolve(url)
            except WebhookRefused as refused:
                raise InvalidInput(str(refused), field="webhook_url") from None

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]  # a literal address is not looked up
        except ValueError:
            return list(self.resolver(host, port))

    def permits(self, text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False  # e.g. an IPv6 address with a scope: link-local anyway
        return is_public(address) or _within(address, self.allowed)


class HasWebhook(Protocol):
    webhook_url: str | None
    webhook_secret: str | None


def subscriber_secret(saved: HasWebhook, wanted_url: str | None) -> tuple[str | None, str | None]:
    """(the secret to keep, the one just made to show once): a new URL gets a new secret, so an
    old receiver's secret never signs for a new one; no URL, no secret."""
    if not wanted_url:
        return None, None
    if wanted_url == saved.webhook_url and saved.webhook_secret:
        return saved.webhook_secret, None
    made = secrets.token_urlsafe(32)
    return made, made


def _within(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
