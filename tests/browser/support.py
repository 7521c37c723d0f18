"""Arranging data for the console tests through the real APIs (the console itself only reads it)."""

from __future__ import annotations

import requests

from tests.support.builders import member_body, unique_code
from tests.support.tokens import ADMIN


def make_org(registration: str, level: str, parent: str, name: str) -> str:
    code = unique_code(level[:2].upper())
    response = requests.post(
        f"{registration}/api/v1/orgs",
        json={"code": code, "name": name, "level": level, "parent_code": parent},
        headers=ADMIN,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return code


def make_branch(registration: str) -> dict[str, str]:
    """province → county → township → branch with fresh codes; returns level → code."""
    codes: dict[str, str] = {}
    parent = "CN"
    for level in ("province", "county", "township", "branch"):
        parent = codes[level] = make_org(registration, level, parent, f"{level} 测试")
    return codes


def make_member(registration: str, branch: str, name: str) -> str:
    response = requests.post(
        f"{registration}/api/v1/members", json=member_body(branch, name=name), headers=ADMIN, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]
