"""Token verification cost per request: RS256 through a cached JWKS against the HS256 baseline,
in the same run, on the same verification path the services use (`shared.web.auth.verify_token`).

Registration signs an RS256 token with a fresh 2048-bit key; the JWKS is served from memory (the
cache is filled once, as a service's is after its first request). Prints the microseconds per
verification of each and the ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import emit
from services.registration.identity.keys import keyring_from_settings
from services.registration.identity.tokens import Grant, sign
from services.registration.settings import RegistrationSettings
from shared.auth import issue_token
from shared.jwks import cache_for
from shared.settings import DEV_JWT_SECRET, Settings
from shared.web.auth import verify_token
from shared.web.context import ServiceContext

ROUNDS = 3000


def per_call_us(token: str, service_context: ServiceContext) -> float:
    verify_token(token, service_context)  # warm: the JWKS cache is filled by the first call
    started = time.perf_counter()
    for _ in range(ROUNDS):
        verify_token(token, service_context)
    return (time.perf_counter() - started) / ROUNDS * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as var_dir:
        registration = RegistrationSettings(service="registration", var_dir=Path(var_dir))
        ring = keyring_from_settings("development", "", "", "", Path(var_dir))
        rs256 = sign(ring, registration, Grant("svc:bench", "service", "CN")).access_token
        settings = Settings(service="tasks", service_urls={"registration": "http://jwks.bench"})
        cache = cache_for("http://jwks.bench/.well-known/jwks.json", source=ring.jwks)
        cache.key(ring.signing_key().kid)
        service_context = ServiceContext(settings=settings, database=None)  # type: ignore[arg-type]
        hs256 = issue_token(DEV_JWT_SECRET, "svc:bench", "service", "CN")
        baseline = per_call_us(hs256, service_context)
        value = per_call_us(rs256, service_context)
    print(f"HS256 (shared secret): {baseline:.1f} µs per verification")
    print(f"RS256 (cached JWKS):   {value:.1f} µs per verification")
    emit(
        "token verification, RS256 cached JWKS (lower is better)",
        value,
        "µs/request",
        "HS256 shared secret",
        baseline,
    )


if __name__ == "__main__":
    main()
