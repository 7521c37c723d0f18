"""The vendored Temporal SDK metric list matches the installed SDK."""

from __future__ import annotations

import re
from importlib.metadata import version

from tests.observability.metric_names import SDK_METRICS, sdk_metrics


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
