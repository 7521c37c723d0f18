"""The allowed metric names match what the processes really expose: the vendored Temporal SDK
list matches the installed SDK, and shared.metrics' names match a scrape."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from shared.settings import PROJECT_ROOT
from tests.observability.metric_names import SDK_METRICS, own_metrics, sdk_metrics


def test_the_list_was_recorded_with_the_installed_temporalio() -> None:
    """Upgrading temporalio may rename its metrics: record the list again (see record_sdk_metrics.py)."""
    recorded = re.search(r"Produced with temporalio (\S+)", SDK_METRICS.read_text())
    assert recorded, "the list must say which temporalio it was recorded with"
    assert recorded.group(1) == version("temporalio"), (
        "run `python -m tests.observability.record_sdk_metrics`"
    )


def test_the_list_has_what_the_dashboards_and_alerts_need() -> None:
    names = sdk_metrics()
    for histogram in (
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_activity_schedule_to_start_latency",
    ):
        assert names[f"{histogram}_bucket"] == {"namespace", "service_name", "task_queue", "le"}


# Touches every metric of shared.metrics once and prints what a scrape of the process shows.
SCRAPE = """
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from shared import metrics
for metric in vars(metrics).values():
    if not isinstance(metric, MetricWrapperBase):
        continue
    child = metric.labels(*["x"] * len(metric._labelnames)) if metric._labelnames else metric
    if metric._type == "gauge":
        child.set(1)
    elif metric._type == "histogram":
        child.observe(0.1)
    else:
        child.inc()
for family in text_string_to_metric_families(metrics.exposition().decode()):
    for sample in family.samples:
        print(sample.name)
"""


@pytest.mark.parametrize("multiprocess", [False, True], ids=["single-process", "gunicorn-multiprocess"])
def test_the_allowed_names_are_the_names_a_scrape_shows(multiprocess: bool, tmp_path: Path) -> None:
    """The suffix rules of own_metrics() checked against a real exposition, in both modes."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", SCRAPE], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    scraped = {name for name in result.stdout.split() if name.startswith("nuanliu_")}
    allowed = set(own_metrics())
    assert scraped <= allowed
    # Every family shows up: no metric of shared.metrics is missed by own_metrics().
    assert {name for name in allowed if not name.endswith("_created")} <= scraped
