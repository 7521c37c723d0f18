from datetime import timedelta

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
