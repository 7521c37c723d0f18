"""JWT bearer tokens and the principal they carry.

Production tokens are RS256, signed by registration's token service with a `kid` (verified
through its JWKS, `shared.jwks`); the HS256 tokens signed with the shared development secret are
accepted only in development. Either way the algorithm is allowlisted: `none` never verifies.
"""

from __future__ import annotations

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


def decode_token(token: str, secret: str) -> Principal:
    """Verify signature, audience and expiry; raise Unauthorized with a reason otherwise."""
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
    return principal_of(claims)


def decode_rs256(token: str, key: Any) -> Principal:
    """Verify an RS256 token of the token service with its public `key` (chosen by `kid`)."""
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
    return principal_of(claims)


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
