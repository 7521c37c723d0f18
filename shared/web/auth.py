"""Bearer-token authentication of API requests: who calls, and whether their role may."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from shared.auth import Principal, verify_hs256, verify_rs256
from shared.errors import Forbidden, Unauthorized
from shared.jwks import cache_for, kid_of
from shared.web.context import ServiceContext, context

F = TypeVar("F", bound=Callable[..., Any])


def key_for(service_context: ServiceContext, kid: str) -> Any:
    """The public key of `kid`: registration reads its own key ring (`extras["public_key"]`),
    every other service the token service's JWKS through its cache."""
    local = service_context.extras.get("public_key")
    if local is not None:
        key = local(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        return key
    url = service_context.settings.url_of("registration") + "/.well-known/jwks.json"
    return cache_for(url).key(kid)


def verify_token(token: str, service_context: ServiceContext) -> Principal:
    """RS256 through the JWKS everywhere; HS256 development tokens only in development. A token
    this app verified lately is answered from its cache while the key that verified it is still
    the one in force (`shared.auth.VerifiedTokens`)."""
    tokens = service_context.verified_tokens
    known = tokens.get(token)
    if known is not None:
        principal, signer = known
        if signer is None:
            return principal
        kid, key = signer
        try:
            if key_for(service_context, kid) == key:
                return principal
        except Unauthorized:
            pass
        tokens.forget(token)  # the key changed or was retired: verify afresh (and likely refuse)
    alg, kid = kid_of(token)
    if alg == "RS256":
        if kid is None:
            raise Unauthorized("token names no key (kid)")
        key = key_for(service_context, kid)
        return tokens.keep(token, verify_rs256(token, key), signer=(kid, key))
    if alg == "HS256" and not service_context.settings.is_production:
        return tokens.keep(token, verify_hs256(token, service_context.settings.jwt_secret))
    raise Unauthorized("invalid token")


def bearer_principal() -> Principal | None:
    """The caller's principal, or None without an Authorization header. Cached per request."""
    if "principal" in g:
        return g.principal
    header = request.headers.get("Authorization", "")
    if not header:
        g.principal = None
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    g.principal = verify_token(token.strip(), context())
    return g.principal


def authenticated(*roles: str) -> Callable[[F], F]:
    """Require a valid token, and one of `roles` if given. The view gets `principal=`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = bearer_principal()
            if principal is None:
                raise Unauthorized("missing bearer token")
            if roles and principal.role not in roles:
                raise Forbidden(f"role {principal.role} may not do this")
            return view(*args, principal=principal, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
