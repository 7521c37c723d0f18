"""Two `nuanliu migrate` runs at once on one PostgreSQL database (a retried Job, two rollouts)
both succeed: the advisory lock makes the second wait, then it finds nothing to do."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from deploy.launcher import venv_env
from shared.db import drop_database
from shared.settings import PROJECT_ROOT, normalise_postgres_url

ADMIN_URL = normalise_postgres_url("postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def scratch_database():
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"nuanliu_migrate_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is not reachable here: {type(error).__name__}")
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        drop_database(admin, name)
        admin.dispose()


def test_concurrent_migrations_wait_for_each_other(scratch_database, tmp_path):
    env = venv_env({"DATABASE_URL": scratch_database, "NUANLIU_VAR_DIR": str(tmp_path)})
    command = [sys.executable, "-m", "deploy.cli", "migrate"]
    runs = [
        subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [run.communicate(timeout=300) for run in runs]
    for run, (_out, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err.decode()[-2000:]
    engine = create_engine(scratch_database)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM registration.alembic_version")).all()
    engine.dispose()
    assert len(versions) == 1
