"""Valid request bodies with unique values, for tests that need fresh data in a shared database."""

from __future__ import annotations

import itertools
import random
from datetime import date

from services.registration.domain import id_check_digit
from shared.clock import local_today, month_of

_counter = itertools.count(1)


def unique_code(prefix: str) -> str:
    return f"{prefix}-{random.randrange(16**6):06X}{next(_counter)}"


def id_number(born: date = date(1990, 5, 17)) -> str:
    # All six area digits random as well as the serial (10^9 numbers per birth date): a session
    # creates thousands of members in one database, and with 10^7 numbers one of four suite runs
    # on 2026-12-07 met a duplicate (a 409 in an unrelated test).
    first17 = f"{random.randrange(10**6):06d}{born:%Y%m%d}{random.randrange(1000):03d}"
    return first17 + id_check_digit(first17)


def member_body(branch_code: str, **overrides: object) -> dict[str, object]:
    born = date(1990, 5, 17)
    body: dict[str, object] = {
        "name": "李明",
        "gender": "male",
        "birth_date": born.isoformat(),
        "id_number": id_number(born),
        "phone": f"13{random.randrange(10**9):09d}",
        "status": "full",
        "branch_code": branch_code,
        "joined_on": "2015-07-01",
        # Paid up (China time): the sending branch approves a transfer only then (issue 21).
        "dues_paid_through": month_of(local_today()),
    }
    body.update(overrides)
    return body


def org_tree(client: object, headers: dict[str, str]) -> dict[str, str]:
    """province → county → township → branch, with unique codes; returns level → code."""
    codes: dict[str, str] = {}
    parent = "CN"
    for level in ("province", "county", "township", "branch"):
        code = unique_code(level[:2].upper())
        response = client.post(  # type: ignore[attr-defined]
            "/api/v1/orgs",
            json={"code": code, "name": f"{level} {code}", "level": level, "parent_code": parent},
            headers=headers,
        )
        assert response.status_code == 201, response.get_json()
        codes[level] = parent = code
    return codes
