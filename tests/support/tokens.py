"""Bearer headers for test identities."""

from typing import Any

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET


def bearer(role: str, org: str = "CN", sub: str | None = None, name: str | None = None) -> dict[str, str]:
    token = issue_token(DEV_JWT_SECRET, sub or f"{role}-{org}", role, org, name)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin", "CN", "admin")


_rings: dict[str, object] = {}


def rs256_bearer(
    keys_dir: str, role: str, org: str = "CN", sub: str | None = None, name: str | None = None
) -> dict[str, str]:
    """A token as the token service issues it: RS256 with its current key and `kid`, 1 h."""
    from pathlib import Path

    from services.registration.identity.keys import KeyRing
    from services.registration.identity.tokens import Grant, sign
    from services.registration.settings import RegistrationSettings

    ring = _rings.get(keys_dir)
    if ring is None:
        ring = _rings[keys_dir] = KeyRing(Path(keys_dir))
    assert isinstance(ring, KeyRing)
    grant = Grant(sub or f"{role}-{org}", role, org, name)
    token = sign(ring, RegistrationSettings(service="registration"), grant).access_token
    return {"Authorization": f"Bearer {token}"}


def production_signer(app: object) -> Any:
    """A production app that trusts a key of this test's making, and a function that signs RS256
    tokens with it (production refuses HS256 development tokens; no registration runs here)."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app.extensions["nuanliu"].extras["public_key"] = lambda kid: key.public_key() if kid == "test" else None  # type: ignore[attr-defined]

    def sign(role: str, org: str = "CN", sub: str | None = None) -> dict[str, str]:
        now = int(time.time())
        claims = {"sub": sub or f"{role}-1", "role": role, "org": org, "aud": "nuanliu", "iss": "nuanliu",
                  "iat": now, "exp": now + 600}  # fmt: skip
        return {"Authorization": "Bearer " + jwt.encode(claims, key, "RS256", headers={"kid": "test"})}

    return sign
