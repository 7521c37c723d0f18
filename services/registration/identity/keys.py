"""The token service's RS256 signing keys: loaded from files or env, published as a JWKS.

A key directory holds one PEM file per key, named so that names sort by age
(`<UTC timestamp>.pem`); the newest signs, and every key present is published, so a rollover is:
add a new key (two published, new tokens use it), wait out the old tokens' lifetime, remove the
old one. Production reads `NUANLIU_SIGNING_KEYS_DIR` (a mounted secret) or `NUANLIU_SIGNING_KEY`
(one PEM, plus `NUANLIU_SIGNING_KEY_PREVIOUS` during a rollover) and never generates a key; the
development default generates one under `var/keys/`, readable by its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from shared.settings import SettingsError


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: RSAPrivateKey

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", **_rsa_members(numbers)}


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _rsa_members(numbers: rsa.RSAPublicNumbers) -> dict[str, str]:
    return {"n": _b64(numbers.n), "e": _b64(numbers.e)}


def key_from_pem(pem: bytes) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, RSAPrivateKey) or private_key.key_size < 2048:
        raise SettingsError("a signing key must be an RSA private key of at least 2048 bits")
    # The RFC 7638 thumbprint: the same key always has the same kid, wherever it is loaded.
    members = _rsa_members(private_key.public_key().public_numbers())
    canonical = json.dumps({"e": members["e"], "kty": "RSA", "n": members["n"]}, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return SigningKey(kid=kid, private_key=private_key)


def new_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class KeyRing:
    """The current keys; re-read when the directory changes, so a rollover needs no restart."""

    def __init__(self, directory: Path | None = None, pems: tuple[bytes, ...] = ()) -> None:
        self.directory = directory
        self._fixed = [key_from_pem(pem) for pem in pems]
        self._keys: list[SigningKey] = list(self._fixed)
        self._seen: tuple[tuple[str, float], ...] = ()
        self._lock = threading.Lock()
        if directory is None and not self._fixed:
            raise SettingsError("the token service needs a signing key (NUANLIU_SIGNING_KEYS_DIR)")
        self._refresh()

    def _refresh(self) -> None:
        if self.directory is None:
            return
        files = sorted(self.directory.glob("*.pem"))
        seen = tuple((path.name, path.stat().st_mtime) for path in files)
        if seen == self._seen:
            return
        with self._lock:
            self._keys = [key_from_pem(path.read_bytes()) for path in files] + self._fixed
            self._seen = seen
        if not self._keys:
            raise SettingsError(f"no signing key (*.pem) in {self.directory}")

    def signing_key(self) -> SigningKey:
        self._refresh()
        return self._keys[-1] if self.directory is not None else self._keys[0]

    def keys(self) -> list[SigningKey]:
        self._refresh()
        return list(self._keys)

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        for key in self.keys():
            if key.kid == kid:
                return key.private_key.public_key()
        return None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys()]}

    def rotate(self) -> SigningKey:
        """Add a new key to the directory; it signs from now on, the old ones still verify."""
        if self.directory is None:
            raise SettingsError("keys given in env are rotated by changing the env")
        write_key(self.directory, new_private_pem())
        return self.signing_key()

    def retire(self, kid: str) -> None:
        """Remove a key: tokens it signed stop verifying once services refresh their JWKS."""
        if self.directory is None:
            raise SettingsError("keys given in env are retired by changing the env")
        for path in self.directory.glob("*.pem"):
            if key_from_pem(path.read_bytes()).kid == kid:
                path.unlink()


def write_key(directory: Path, pem: bytes) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + ".pem"
    path = directory / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return path


def keyring_from_settings(
    environment: str, keys_dir: str, key_pem: str, previous_pem: str, var_dir: Path
) -> KeyRing:
    """Production: the configured keys or refusal. Development: generate one if none exists."""
    if key_pem:
        # Without a directory the first fixed key signs: the current one.
        return KeyRing(None, tuple(pem.encode() for pem in (key_pem, previous_pem) if pem))
    if not keys_dir and environment == "production":
        raise SettingsError("production needs NUANLIU_SIGNING_KEYS_DIR or NUANLIU_SIGNING_KEY")
    directory = Path(keys_dir) if keys_dir else var_dir / "keys"
    if environment != "production" and not any(directory.glob("*.pem")):
        write_key(directory, new_private_pem())
    return KeyRing(directory)
