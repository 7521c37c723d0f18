"""JWT bearer tokens (HS256, allowlisted) and the principal they carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from shared.db import utcnow
from shared.errors import Unauthorized

AUDIENCE = "nuanliu"
ALGORITHMS = ["HS256"]  # an allowlist: `none` and asymmetric confusion are refused by PyJWT
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
