"""Station codes (QR tokens): signed with the station's own key, checked in constant time.

Pure: no Flask, no SQLAlchemy, no I/O. A token is `<payload>.<mac>`, both base64url without
padding: the payload is `code|version|kind|expiry` (expiry in Unix seconds, 0 for a poster,
which lasts until the key is rotated), the MAC is HMAC-SHA256 of the payload under the station's
key, cut to 128 bits to keep the QR small (still far beyond guessing). Rotating the key (and
its version) voids every code issued before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SCREEN = "s"
POSTER = "p"
KINDS = (SCREEN, POSTER)
MAC_BYTES = 16
MAX_TOKEN = 200
# A station code as stations are created with (the org code rule): anything else is no code,
# and never reaches a query.
STATION_CODE = re.compile(r"^[A-Z0-9-]{2,40}$")


class BadToken(ValueError):
    """The token is not one this station signed, or no longer valid; the message says why."""


@dataclass(frozen=True)
class Claims:
    station_code: str
    key_version: int
    kind: str
    expires_at: datetime | None


def new_key() -> str:
    """A fresh random station key (256 bits, hex)."""
    return secrets.token_hex(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(key), payload, hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: str, station_code: str, key_version: int, kind: str, expires_at: datetime | None) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown code kind {kind!r}")
    expiry = 0 if expires_at is None else int(expires_at.timestamp())
    payload = f"{station_code}|{key_version}|{kind}|{expiry}".encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def screen_token(
    key: str, station_code: str, key_version: int, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    """A screen code valid `ttl` from `now` (whole seconds), and when it expires."""
    expires_at = datetime.fromtimestamp(int((now + ttl).timestamp()), UTC)
    return sign(key, station_code, key_version, SCREEN, expires_at), expires_at


def poster_token(key: str, station_code: str, key_version: int) -> str:
    return sign(key, station_code, key_version, POSTER, None)


def read_claims(token: str) -> tuple[Claims, bytes, bytes]:
    """The claims a token states (not yet verified), its payload and its MAC."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise BadToken("not a station code")
    payload_text, mac_text = token.split(".")
    try:
        payload, mac = _unb64(payload_text), _unb64(mac_text)
        code, version, kind, expiry = payload.decode("utf-8").split("|")
        key_version, expiry_s = int(version), int(expiry)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadToken("not a station code") from None
    if kind not in KINDS or len(mac) != MAC_BYTES or not STATION_CODE.match(code):
        raise BadToken("not a station code")
    if (kind == POSTER) != (expiry_s == 0):
        raise BadToken("not a station code")
    expires_at = datetime.fromtimestamp(expiry_s, UTC) if expiry_s else None
    return Claims(code, key_version, kind, expires_at), payload, mac


def verify(token: str, key: str, key_version: int, now: datetime) -> Claims:
    """The token's claims if this station key signed it and it is still valid, else BadToken."""
    claims, payload, mac = read_claims(token)
    # Compare the MAC first and in constant time, so a forged token learns nothing from timing.
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise BadToken("the code was not issued by this station")
    if claims.key_version != key_version:
        raise BadToken("the station's code has been replaced; scan the current one")
    if claims.expires_at is not None and claims.expires_at <= now:
        raise BadToken("the code has expired; scan the code on the screen again")
    return claims
