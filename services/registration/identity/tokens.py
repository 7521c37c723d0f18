"""The token service: RS256 access tokens for people in the staff directory, members who proved
their phone, and services with their client credentials.

Claims are those of every nuanliu token (`sub`, `role`, `org`, `name`) plus `iss` and `aud`
"nuanliu", `kid` in the header, and `exp` at most one hour ahead (`access_token_ttl`).
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from sqlalchemy import select

from services.registration.identity.keys import KeyRing
from services.registration.models import Org, StaffAssignment
from services.registration.settings import RegistrationSettings
from shared.auth import AUDIENCE, ISSUER
from shared.db import Database, utcnow
from shared.errors import Forbidden, InvalidInput, Unauthorized, Unavailable

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
# What an OpenID provider may sign ID tokens with; never `none`, never a shared secret.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@dataclass(frozen=True)
class Grant:
    sub: str
    role: str
    org: str
    name: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    token_type: str
    expires_in: int
    roles: list[dict[str, str]]


def sign(keys: KeyRing, settings: RegistrationSettings, grant: Grant) -> IssuedToken:
    key = keys.signing_key()
    now = int(utcnow().timestamp())
    ttl = int(settings.access_token_ttl.total_seconds())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": grant.sub,
        "role": grant.role,
        "org": grant.org,
        "iat": now,
        "exp": now + ttl,
    }
    if grant.name:
        claims["name"] = grant.name
    token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    return IssuedToken(token, "Bearer", ttl, [])


# --- client credentials -------------------------------------------------------------------


def client_credentials(settings: RegistrationSettings, client_id: str, client_secret: str) -> Grant:
    expected = settings.client_secret_of(client_id)
    # Compared in constant time, and an unknown client costs the same comparison.
    if not hmac.compare_digest((expected or "\0").encode(), client_secret.encode()) or expected is None:
        raise Unauthorized("unknown client or wrong client_secret")
    return Grant(sub=f"svc:{client_id}", role="service", org="CN", name=None)


# --- token exchange (an ID token from the OpenID provider) ---------------------------------


class ProviderKeys:
    """The provider's discovery document and JWKS, fetched once and refreshed on an unknown kid."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer.rstrip("/")
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                try:
                    answer = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5)
                    answer.raise_for_status()
                    jwks_uri = answer.json()["jwks_uri"]
                except (requests.RequestException, ValueError, KeyError) as error:
                    raise Unavailable("the OpenID provider cannot be reached") from error
                self._client = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=3600, timeout=5)
            return self._client


_providers: dict[str, ProviderKeys] = {}


def provider_keys(issuer: str) -> ProviderKeys:
    if issuer not in _providers:
        _providers[issuer] = ProviderKeys(issuer)
    return _providers[issuer]


def verify_id_token(settings: RegistrationSettings, id_token: str) -> dict[str, Any]:
    """The ID token's claims, or 401: signature by the provider's JWKS, issuer, audience, expiry."""
    keys = provider_keys(settings.oidc_issuer)
    try:
        signing_key = keys.client().get_signing_key_from_jwt(id_token)
        return jwt.decode(
            id_token,
            signing_key.key,
            algorithms=ID_TOKEN_ALGORITHMS,
            audience=[item.strip() for item in settings.oidc_client_ids.split(",") if item.strip()],
            issuer=keys.issuer,
            options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            leeway=30,
        )
    except jwt.PyJWKClientConnectionError as error:
        raise Unavailable("the OpenID provider's keys cannot be fetched") from error
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("the ID token has expired") from error
    except jwt.PyJWKClientError as error:
        raise Unauthorized("the ID token is not signed by a key of the provider") from error
    except jwt.PyJWTError as error:
        raise Unauthorized(f"invalid ID token: {error}") from error


def roles_of(database: Database, subject: str) -> list[dict[str, str]]:
    """Every role the person holds, with the org's name, in a stable order."""
    with database.reader() as session:
        rows = session.execute(
            select(StaffAssignment.org_code, Org.name, StaffAssignment.role, StaffAssignment.name)
            .join(Org, Org.code == StaffAssignment.org_code)
            .where(StaffAssignment.subject == subject)
            .order_by(Org.path, StaffAssignment.role)
        ).all()
    return [
        {"org": org, "org_name": org_name, "role": role, "name": name} for org, org_name, role, name in rows
    ]


def token_exchange(
    database: Database, settings: RegistrationSettings, subject_token: str, org: str | None, role: str | None
) -> tuple[Grant, list[dict[str, str]]]:
    claims = verify_id_token(settings, subject_token)
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the ID token names no subject")
    roles = roles_of(database, subject) + _admin_role(settings, subject)
    if not roles:
        raise Forbidden("this person holds no role in nuanliu; ask the org department to assign one")
    chosen = [
        item
        for item in roles
        if (org is None or item["org"] == org) and (role is None or item["role"] == role)
    ]
    if not chosen:
        raise InvalidInput("the person holds no such role in that org", field="org")
    pick = chosen[0]
    return Grant(sub=subject, role=pick["role"], org=pick["org"], name=pick["name"] or None), roles


def _admin_role(settings: RegistrationSettings, subject: str) -> list[dict[str, str]]:
    """Admins are named in settings (`NUANLIU_ADMIN_SUBJECTS`), not in any org's staff."""
    admins = {item.strip() for item in settings.admin_subjects.split(",") if item.strip()}
    return [{"org": "CN", "org_name": "", "role": "admin", "name": ""}] if subject in admins else []
