"""Bearer-token authentication of API requests: who calls, and whether their role may."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from shared.auth import Principal, decode_token
from shared.errors import Forbidden, Unauthorized
from shared.web.context import context

F = TypeVar("F", bound=Callable[..., Any])


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
    g.principal = decode_token(token.strip(), context().settings.jwt_secret)
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
