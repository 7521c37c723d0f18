from datetime import timedelta
from typing import Any

import jwt
import pytest

from shared.auth import decode_token, issue_token
from shared.errors import Unauthorized
from shared.settings import DEV_JWT_SECRET, Settings, SettingsError


def test_a_valid_token_gives_its_principal():
    token = issue_token(DEV_JWT_SECRET, "m-1", "member", "TJ-WQ-YC-01", name="张三")
    principal = decode_token(token, DEV_JWT_SECRET)
    assert (principal.sub, principal.role, principal.org, principal.name) == (
        "m-1",
        "member",
        "TJ-WQ-YC-01",
        "张三",
    )


def test_expired_token_is_refused():
    token = issue_token(DEV_JWT_SECRET, "m-1", "member", "X1", ttl=timedelta(seconds=-5))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(token, DEV_JWT_SECRET)


def test_wrong_audience_is_refused():
    token = jwt.encode(
        {"sub": "a", "role": "admin", "org": "CN", "aud": "other", "exp": 9999999999},
        DEV_JWT_SECRET,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized, match="audience"):
        decode_token(token, DEV_JWT_SECRET)


def test_wrong_secret_is_refused():
    token = issue_token("another-secret-that-is-long-enough-000", "a", "admin", "CN")
    with pytest.raises(Unauthorized, match="invalid"):
        decode_token(token, DEV_JWT_SECRET)


def test_alg_none_is_refused():
    token = jwt.encode(
        {"sub": "a", "role": "admin", "org": "CN", "aud": "nuanliu", "exp": 9999999999},
        None,
        algorithm="none",
    )
    with pytest.raises(Unauthorized):
        decode_token(token, DEV_JWT_SECRET)


def test_unknown_role_is_refused():
    token = jwt.encode(
        {"sub": "a", "role": "king", "org": "CN", "aud": "nuanliu", "exp": 9999999999},
        DEV_JWT_SECRET,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized, match="role"):
        decode_token(token, DEV_JWT_SECRET)


def test_short_secrets_and_the_dev_secret_in_production_are_refused():
    with pytest.raises(SettingsError, match="32 bytes"):
        Settings.from_env("registration", {"NUANLIU_JWT_SECRET": "short"})
    with pytest.raises(SettingsError, match="production"):
        Settings.from_env("registration", {"NUANLIU_ENV": "production"})


# --- the cache of verified tokens ---------------------------------------------------------


def _verified(sub: str, expires_in: float) -> Any:
    import time

    from shared.auth import Principal, Verified

    return Verified(Principal(sub, "member", "X1"), time.time() + expires_in)


def test_a_kept_token_answers_its_principal_and_signer():
    from shared.auth import VerifiedTokens

    tokens = VerifiedTokens()
    tokens.keep("t-1", _verified("m-1", 600), signer=("kid-1", "key"))
    principal, signer = tokens.get("t-1")  # type: ignore[misc]
    assert (principal.sub, signer) == ("m-1", ("kid-1", "key"))
    assert tokens.get("t-2") is None


def test_a_kept_token_is_never_answered_past_its_expiry(monkeypatch):
    import time

    from shared.auth import VerifiedTokens

    tokens = VerifiedTokens(recheck_seconds=600)
    tokens.keep("t-1", _verified("m-1", 5))
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 6)
    assert tokens.get("t-1") is None


def test_a_kept_token_is_verified_again_after_the_recheck_time(monkeypatch):
    import time

    from shared.auth import VerifiedTokens

    tokens = VerifiedTokens(recheck_seconds=60)
    tokens.keep("t-1", _verified("m-1", 3600))
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 59)
    assert tokens.get("t-1") is not None
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert tokens.get("t-1") is None


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest_first():
    from shared.auth import VerifiedTokens

    tokens = VerifiedTokens(size=10)
    for n in range(25):
        tokens.keep(f"t-{n}", _verified(f"m-{n}", 600))
    kept = [n for n in range(25) if tokens.get(f"t-{n}") is not None]
    assert len(kept) <= 10
    assert 24 in kept and 0 not in kept
