"""Identity rules with no database: which role fits which org level, who manages staff, what
production refuses, and the SMS code rate windows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.registration.commands.staff import may_manage_staff
from services.registration.domain import check_staff_role_fits, role_fits_level
from services.registration.identity.keys import keyring_from_settings
from services.registration.identity.otp import _retry_after
from services.registration.models import Org
from services.registration.settings import RegistrationSettings
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import InvalidInput
from shared.settings import SettingsError


@pytest.mark.parametrize(
    ("role", "fits", "misfits"),
    [
        ("branch_secretary", ["branch"], ["township", "county"]),
        ("township_officer", ["township"], ["branch", "county"]),
        ("org_department", ["county", "city", "province", "central"], ["township", "branch"]),
    ],
)
def test_a_role_fits_only_its_levels(role, fits, misfits):
    for level in fits:
        assert role_fits_level(role, level)
        check_staff_role_fits(role, level)
    for level in misfits:
        assert not role_fits_level(role, level)
        with pytest.raises(InvalidInput) as refused:
            check_staff_role_fits(role, level)
        assert refused.value.field == "role"


def test_staff_are_managed_by_a_department_strictly_above_or_an_admin():
    branch = Org(code="B", name="b", level="branch", parent_code="T", path="/CN/P/K/T/B/")
    county = Org(code="K", name="k", level="county", parent_code="P", path="/CN/P/K/")
    assert may_manage_staff(Principal("d", "org_department", "K"), branch)
    assert not may_manage_staff(Principal("d", "org_department", "K"), county)  # not its own peers
    assert not may_manage_staff(Principal("d", "org_department", "KS"), branch)
    assert not may_manage_staff(Principal("t", "township_officer", "T"), branch)
    assert may_manage_staff(Principal("a", "admin", "CN"), county)


def test_production_refuses_every_development_default_at_once():
    with pytest.raises(SettingsError) as refused:
        RegistrationSettings.from_env(environ={"NUANLIU_ENV": "production", "NUANLIU_JWT_SECRET": "x" * 40})
    for name in (
        "NUANLIU_CLIENT_SECRETS",
        "NUANLIU_OTP_PEPPER",
        "NUANLIU_ID_HASH_KEY",
        "NUANLIU_SIGNING_KEY",
        "NUANLIU_RATELIMIT_STORAGE",
    ):
        assert name in str(refused.value)


def test_production_never_generates_a_signing_key(tmp_path: Path):
    with pytest.raises(SettingsError, match="NUANLIU_SIGNING_KEYS_DIR"):
        keyring_from_settings("production", "", "", "", tmp_path)
    assert not (tmp_path / "keys").exists()
    ring = keyring_from_settings("development", "", "", "", tmp_path)
    (key_file,) = (tmp_path / "keys").glob("*.pem")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert ring.jwks()["keys"][0]["kid"] == ring.signing_key().kid


def test_tokens_live_at_most_an_hour():
    with pytest.raises(SettingsError, match="1h"):
        RegistrationSettings.from_env(environ={"NUANLIU_ACCESS_TOKEN_TTL": "2h"})


def test_code_requests_wait_for_the_minute_and_the_hour():
    now = utcnow()
    assert _retry_after([], now) == 0
    assert 0 < _retry_after([now - timedelta(seconds=10)], now) <= 51
    assert _retry_after([now - timedelta(seconds=61)], now) == 0
    five = [now - timedelta(minutes=minutes) for minutes in (50, 40, 30, 20, 10)]
    assert 600 < _retry_after(five, now) <= 601
