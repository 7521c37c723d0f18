"""promtool for the observability checks, from Debian's `prometheus` package."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.fixtures import apt_install


@pytest.fixture(scope="session")
def promtool() -> str:
    """Installed with apt when missing and we are root; otherwise the test is skipped, saying why."""
    found = shutil.which("promtool")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            "the alert rule and query checks need promtool: run `apt-get install -y prometheus` as root"
        )
    result = apt_install("prometheus")
    found = shutil.which("promtool")
    if result.returncode != 0 or not found:
        # As root with apt, a missing promtool is a broken set-up, not a reason to skip the checks.
        pytest.fail(f"could not install promtool (package prometheus) with apt: {result.stderr[-500:]}")
    return found
