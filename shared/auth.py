"""JWT bearer tokens and the principal they carry.

Production tokens are RS256, signed by registration's token service with a `kid` (verified
through its JWKS, `shared.jwks`); the HS256 tokens signed with the shared development secret are
accepted only in development. Either way the algorithm is allowlisted: `none` never verifies.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from shared.db import utcnow
from shared.errors import Unauthorized

AUDIENCE = "nuanliu"
ISSUER = "nuanliu"
ALGORITHMS = ["HS256"]  # an allowlist: `none` and asymmetric confusion are refused by PyJWT
# The longest an RS256 access token may live (exp - iat), whoever signed it.
MAX_RS256_LIFETIME = 3600
ROLES = ("member", "branch_secretary", "township_officer", "org_department", "admin", "service")
ORG_ROLES = ("branch_secretary", "township_officer", "org_department")


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    org: str
    name: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_service(self) -> bool:
        return self.role == "service"


def issue_token(
    secret: str,
    sub: str,
    role: str,
    org: str,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    claims: dict[str, object] = {
        "sub": sub,
        "role": role,
        "org": org,
        "aud": AUDIENCE,
        "iat": int(utcnow().timestamp()),
        "exp": int((utcnow() + ttl).timestamp()),
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class Verified:
    """A token's principal, and when the token expires (its `exp`, seconds since the epoch)."""

    principal: Principal
    expires_at: float


def decode_token(token: str, secret: str) -> Principal:
    """Verify signature, audience and expiry; raise Unauthorized with a reason otherwise."""
    return verify_hs256(token, secret).principal


def verify_hs256(token: str, secret: str) -> Verified:
    """`decode_token`, telling when the token expires."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=ALGORITHMS,
            audience=AUDIENCE,
            options={"require": ["sub", "role", "org", "aud", "exp"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("token expired") from error
    except jwt.InvalidAudienceError as error:
        raise Unauthorized("token audience is not nuanliu") from error
    except jwt.PyJWTError as error:
        raise Unauthorized("invalid token") from error
    return Verified(principal_of(claims), float(claims["exp"]))


def decode_rs256(token: str, key: Any) -> Principal:
    """Verify an RS256 token of the token service with its public `key` (chosen by `kid`)."""
    return verify_rs256(token, key).principal


def verify_rs256(token: str, key: Any) -> Verified:
    """`decode_rs256`, telling when the token expires."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["sub", "role", "org", "aud", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("token expired") from error
    except jwt.InvalidAudienceError as error:
        raise Unauthorized("token audience is not nuanliu") from error
    except jwt.PyJWTError as error:
        raise Unauthorized("invalid token") from error
    if not isinstance(claims["iat"], int) or claims["exp"] - claims["iat"] > MAX_RS256_LIFETIME:
        raise Unauthorized("token lifetime exceeds one hour")
    return Verified(principal_of(claims), float(claims["exp"]))


def principal_of(claims: dict[str, Any]) -> Principal:
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized("token carries an unknown role")
    if not all(isinstance(claims[key], str) and claims[key] for key in ("sub", "org")):
        raise Unauthorized("token sub and org must be non-empty strings")
    name = claims.get("name")
    return Principal(
        sub=claims["sub"], role=role, org=claims["org"], name=name if isinstance(name, str) else None
    )


def service_token(secret: str, service: str) -> str:
    """The token one service presents to another."""
    return issue_token(secret, sub=f"svc:{service}", role="service", org="CN", ttl=timedelta(hours=1))


class VerifiedTokens:
    """Tokens this process verified lately, so that a caller's next requests skip PyJWT.

    Verifying costs 0.25–0.3 ms a request in PyJWT (base64 and JSON of three segments, checked
    character by character, then the signature), a tenth of a check-in. A token is the same
    bytes for its whole life, so what it verified to is kept, keyed by the token itself, with
    the key that verified it (`signer`, e.g. the RS256 `kid` and public key): the caller answers
    a kept token only while that key is still the one its key source gives, so a key taken out
    of the ring is refused at once, as before. Never past the token's `exp`, and re-verified at
    least every `recheck_seconds`. Only tokens that verified are kept: a forged one costs its
    verification every time. At most `size` tokens; beyond that the oldest tenth goes."""

    def __init__(self, size: int = 10_000, recheck_seconds: float = 60.0) -> None:
        self.size = size
        self.recheck_seconds = recheck_seconds
        self._entries: dict[str, tuple[Principal, float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[Principal, Any] | None:
        """The principal and signer kept for `token`, or None (never verified, or due again)."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, until, signer = entry
        if time.time() >= until:
            self.forget(token)
            return None
        return principal, signer

    def keep(self, token: str, verified: Verified, signer: Any = None) -> Principal:
        until = min(verified.expires_at, time.time() + self.recheck_seconds)
        with self._lock:
            if len(self._entries) >= self.size:
                # Oldest first (dicts keep insertion order): a bounded cache, not an LRU.
                for stale in list(self._entries)[: max(1, self.size // 10)]:
                    self._entries.pop(stale, None)
            self._entries[token] = (verified.principal, until, signer)
        return verified.principal

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)
