"""The Temporal SDK names the dashboards and alerts use are exported by a real worker.

The offline checks (tests/observability) compare the queries with a vendored list; this test
compares the names the queries use with a live worker's scrape, on the workflow tests' dev server.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.observability.metric_names import selectors
from tests.observability.record_sdk_metrics import record_from
from tests.observability.test_dashboards import DASHBOARDS, dashboard_queries
from tests.observability.test_rules import ALERTS, alert_rules

pytestmark = pytest.mark.asyncio(loop_scope="session")


def used_sdk_names() -> set[str]:
    queries = [
        query for path in DASHBOARDS for _where, query in dashboard_queries(json.loads(path.read_text()))
    ]
    queries += [rule["expr"] for rule in alert_rules(yaml.safe_load(ALERTS.read_text()))]
    return {s.metric for query in queries for s in selectors(query) if s.metric.startswith("temporal_")}


async def test_a_live_worker_exports_every_sdk_name_the_dashboards_and_alerts_use(temporal_env) -> None:
    scraped = {line.split()[0] for line in await record_from(temporal_env.client)}
    used = used_sdk_names()
    assert "temporal_activity_schedule_to_start_latency_bucket" in used
    assert used <= scraped, f"not exported by temporalio's worker: {sorted(used - scraped)}"
