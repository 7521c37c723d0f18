"""Verification codes of introduction letters: an HMAC of the letter number (issue 20).

No storage: the code is recomputed from the number with a key only the transfer service holds, so
it cannot be derived from the serial (which is sequential and printed) without the key, and any
transfer process verifies any letter. The key is `NUANLIU_LETTER_KEY` (at least 32 bytes) or, in
development, 32 random bytes generated once under `var/letter-verification.key` (mode 0600).
Rotating the key voids the codes on letters already printed: they then verify as 404.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path
from urllib.parse import urlencode

from shared.settings import Settings

KEY_ENV = "NUANLIU_LETTER_KEY"
KEY_FILE = "letter-verification.key"
# 16 base32 characters = 80 bits: unguessable within any rate limit, short enough to type.
CODE_LENGTH = 16

_lock = threading.Lock()
_keys: dict[Path, bytes] = {}


class LetterKeyError(RuntimeError):
    """The configured key is unusable; the service refuses to start rather than print weak codes."""


def load_key(var_dir: Path, environ: dict[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    configured = env.get(KEY_ENV)
    if configured:
        if len(configured.encode()) < 32:
            raise LetterKeyError(f"{KEY_ENV} must be at least 32 bytes")
        return configured.encode()
    path = var_dir / KEY_FILE
    with _lock:
        if path in _keys:
            return _keys[path]
        _keys[path] = _read_or_create(path)
        return _keys[path]


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting together, one creates the key and the other reads it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise LetterKeyError(f"{path} holds fewer than 32 bytes") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


class LetterCodes:
    """Computes and checks the code of a letter number, and the URL its QR encodes."""

    def __init__(self, key: bytes, console_url: str) -> None:
        self._key = key
        self.console_url = console_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> LetterCodes:
        return cls(load_key(settings.var_dir), settings.url_of("console"))

    def code(self, number: str) -> str:
        digest = hmac.new(self._key, b"letter:" + number.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:CODE_LENGTH].lower()

    def matches(self, number: str, code: str) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters, and a code is typed by anyone.
        return hmac.compare_digest(self.code(number).encode(), code.strip().lower().encode())

    def verification_url(self, number: str) -> str:
        """The console's public page for this letter: what phone cameras open from the QR."""
        return f"{self.console_url}/verify?{urlencode({'n': number, 'c': self.code(number)})}"
