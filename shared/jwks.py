"""Verification of nuanliu's RS256 tokens through the token service's JWKS.

The keys are fetched from registration's `/.well-known/jwks.json`, cached, and fetched again when
a token names a `kid` the cache lacks (a rollover), at most once per `min_refresh` seconds so that
forged kids cannot make every request call registration. While registration is down the cached
keys keep verifying.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests
from jwt.algorithms import RSAAlgorithm

from shared.errors import Unauthorized

log = logging.getLogger(__name__)

JwksSource = Callable[[], dict[str, Any]]


def http_source(url: str, timeout: float = 3.0) -> JwksSource:
    def fetch() -> dict[str, Any]:
        answer = requests.get(url, timeout=timeout)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    return fetch


class JwksCache:
    def __init__(self, source: JwksSource, min_refresh: float = 10.0, max_age: float = 300.0) -> None:
        self.source = source
        self.min_refresh = min_refresh
        self.max_age = max_age
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._tried_at = -1e9
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._tried_at < self.min_refresh:
                return
            self._tried_at = now
            try:
                document = self.source()
            except (requests.RequestException, ValueError) as error:
                # Keep the cached keys: registration being down must not sign everyone out.
                log.warning("JWKS fetch failed (%s); verifying from the cache", type(error).__name__)
                return
            keys: dict[str, Any] = {}
            for jwk in document.get("keys", []):
                if jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str):
                    keys[jwk["kid"]] = RSAAlgorithm.from_jwk(json.dumps(jwk))
            self._keys = keys
            self._fetched_at = now

    def key(self, kid: str) -> Any:
        if kid not in self._keys or time.monotonic() - self._fetched_at > self.max_age:
            self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        return key


_caches: dict[str, JwksCache] = {}
_caches_lock = threading.Lock()


def cache_for(url: str, source: JwksSource | None = None) -> JwksCache:
    """One cache per JWKS URL per process."""
    with _caches_lock:
        if url not in _caches:
            _caches[url] = JwksCache(source or http_source(url))
        return _caches[url]


def forget_caches() -> None:
    """For tests that start a new token service on a reused URL."""
    with _caches_lock:
        _caches.clear()


def kid_of(token: str) -> tuple[str, str | None]:
    """The header's `alg` and `kid`, unverified (only to choose the key)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise Unauthorized("invalid token") from error
    kid = header.get("kid")
    return str(header.get("alg")), kid if isinstance(kid, str) else None
