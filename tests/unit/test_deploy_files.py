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
    assert "?" in environment["NUANLIU_JWT_SECRET"]


def test_procfile_temporal_uses_wal_and_the_search_attributes():
    temporal = read_procfile()["temporal"]
    for needed in (
        "journal_mode=wal",
        "synchronous=normal",
        "TransferStatus=Keyword",
        "CurrentStageOrg=Keyword",
    ):
        assert needed in temporal
