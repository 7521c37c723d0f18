"""The deployment descriptions stay in step with the processes the launcher really runs."""

import shlex

import yaml

from deploy.launcher import read_procfile
from shared.settings import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "deploy" / "compose.yaml").read_text())


def test_every_procfile_process_is_a_compose_service_with_the_same_program():
    services = COMPOSE["services"]
    for name, command in read_procfile().items():
        assert name in services, f"{name} is in the Procfile but not in compose.yaml"
        if name == "temporal":
            continue  # compose runs a Temporal server image instead of the dev server
        program, *args = shlex.split(command)
        compose_command = services[name]["command"]
        assert compose_command[0] == program, name
        # The same subcommand or application factory, whatever the ports.
        assert args[-1] == compose_command[-1] or args[-1].strip("'") == compose_command[-1], name


def test_compose_needs_a_real_secret_and_production_mode():
    environment = COMPOSE["x-nuanliu"]["environment"]
    assert environment["NUANLIU_ENV"] == "production"
    assert "NUANLIU_JWT_SECRET" not in environment  # production refuses the shared HS256 secret
    assert "?" in environment["NUANLIU_CONSOLE_SECRET"]


def test_procfile_temporal_uses_wal_and_the_search_attributes():
    temporal = read_procfile()["temporal"]
    for needed in (
        "journal_mode=wal",
        "synchronous=normal",
        "TransferStatus=Keyword",
        "CurrentStageOrg=Keyword",
    ):
        assert needed in temporal


def test_compose_registers_every_transfer_search_attribute():
    from services.transfer.search_attributes import ALL

    command = " ".join(COMPOSE["services"]["temporal-search-attributes"]["command"])
    for key in ALL:
        assert f"--name {key.name} --type Keyword" in command


def test_cli_relays_and_consumers_name_services_that_have_them():
    import importlib

    from deploy.processes import CONSUMERS, PUBLISHERS

    for service in PUBLISHERS:
        assert hasattr(importlib.import_module(f"services.{service}.models"), "outbox"), service
    for service in CONSUMERS:
        assert hasattr(importlib.import_module(f"services.{service}.consumer"), "build_consumer"), service
    for command in read_procfile().values():
        words = shlex.split(command)
        if words[:2] == ["nuanliu", "relay"]:
            assert words[2] in PUBLISHERS
        if words[:2] == ["nuanliu", "consume"]:
            assert words[2] in CONSUMERS
