"""Bearer headers for test identities."""

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
