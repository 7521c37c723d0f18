"""The transfer end-to-end stack: its own Temporal server and the processes a transfer needs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import requests

from tests.support.builders import id_number, member_body, unique_code
from tests.support.stack import Stack, own_temporal_env
from tests.support.tokens import ADMIN

PROCESSES = (
    "temporal",
    "registration-api",
    "transfer-api",
    "notify-api",
    "registration-relay",
    "transfer-relay",
    "transfer-worker",
    "notify-consumer",
)


@pytest.fixture(scope="module", name="transfer_stack")
def transfer_stack_fixture(stack_env, tmp_path_factory) -> Iterator[Stack]:
    env = {
        **stack_env,
        **own_temporal_env(),
        "NUANLIU_BROKER_PREFIX": stack_env["NUANLIU_BROKER_PREFIX"] + "transfer.",
        "NUANLIU_VAR_DIR": str(tmp_path_factory.mktemp("transfer-var")),
        "NUANLIU_WEB_WORKERS": "2",
    }
    stack = Stack(tmp_path_factory.mktemp("transfer-logs"), env)
    stack.start(*PROCESSES)
    try:
        stack.wait_ready("registration", "transfer", "notify", timeout=90)
        yield stack
    finally:
        stack.stop()


def create_chain(registration: str, levels: list[tuple[str, str]], parent: str = "CN") -> dict[str, str]:
    codes: dict[str, str] = {}
    for level, name in levels:
        code = unique_code(level[:2].upper())
        response = requests.post(
            f"{registration}/api/v1/orgs",
            json={"code": code, "name": name, "level": level, "parent_code": parent},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        codes[level] = parent = code
    return codes


def lichuan_and_shaoxing(registration: str) -> tuple[dict[str, str], dict[str, str]]:
    lichuan = create_chain(
        registration,
        [
            ("province", "湖北省"),
            ("city", "恩施州"),
            ("county", "利川市"),
            ("township", "谋道镇"),
            ("branch", "鱼木村党支部"),
        ],
    )
    shaoxing = create_chain(
        registration,
        [
            ("province", "浙江省"),
            ("city", "绍兴市"),
            ("county", "柯桥区"),
            ("township", "柯桥街道"),
            ("branch", "红建村党支部"),
        ],
    )
    return lichuan, shaoxing


def new_member(registration: str, branch: str) -> str:
    # A random birth date as well as a random sequence: 50 members must not share an id number.
    born = date(1960, 1, 1) + timedelta(days=random.randrange(12000))
    body = member_body(branch, birth_date=born.isoformat(), id_number=id_number(born))
    response = requests.post(f"{registration}/api/v1/members", json=body, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]
