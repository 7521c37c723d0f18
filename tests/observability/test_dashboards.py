"""The Grafana dashboards: well-formed, provisioning-ready, and querying only exported metrics."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import PROJECT_ROOT
from tests.observability.metric_names import (
    all_panels,
    dashboard_queries,
    exported_metrics,
    own_metrics,
    problems,
    selectors,
)

GRAFANA = PROJECT_ROOT / "deploy" / "observability" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
EXPORTED = exported_metrics()


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def dashboard_problems(dashboard: dict[str, Any]) -> list[str]:
    """Everything wrong with one dashboard; empty when it is fine."""
    found = []
    variables = dashboard.get("templating", {}).get("list", [])
    if not any(v.get("name") == "DS_PROMETHEUS" and v.get("type") == "datasource" for v in variables):
        found.append("no DS_PROMETHEUS data source variable")
    panels = list(all_panels(dashboard))
    for key in ("id", "title"):
        values = [panel.get(key) for panel in panels]
        duplicates = sorted({str(value) for value in values if values.count(value) > 1})
        if duplicates or None in values:
            found.append(f"panel {key}s missing or not unique: {duplicates}")
    for panel in panels:
        if panel.get("type") == "row":
            continue
        if panel.get("datasource") != DATASOURCE or any(
            t.get("datasource") != DATASOURCE for t in panel.get("targets", [])
        ):
            found.append(f"panel {panel['title']!r} does not use the ${{DS_PROMETHEUS}} data source")
        if not panel.get("targets") or not all(t.get("expr") for t in panel["targets"]):
            found.append(f"panel {panel['title']!r} has a target without a query")
    for where, query in dashboard_queries(dashboard):
        found += problems(query, EXPORTED, where)
    return found


def test_every_expected_dashboard_is_there() -> None:
    names = {path.stem for path in DASHBOARDS}
    assert {"api", "pipeline", "deliveries", "transfers", "temporal", "schedules"} <= names


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_is_valid_and_queries_only_exported_metrics(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["title"] and dashboard["uid"]
    assert dashboard_problems(dashboard) == []
    assert any(True for _ in dashboard_queries(dashboard)), "a dashboard with no query shows nothing"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    boxes = [(panel["title"], panel["gridPos"]) for panel in all_panels(load(path))]
    for title, box in boxes:
        assert box["x"] >= 0 and box["w"] > 0 and box["x"] + box["w"] <= 24, title
    for (first, a), (second, b) in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, f"{first!r} overlaps {second!r}"


def test_every_metric_the_code_exports_is_on_a_dashboard() -> None:
    """A metric added to shared.metrics and drawn nowhere is invisible to the operator."""
    drawn = {
        selector.metric
        for path in DASHBOARDS
        for _where, query in dashboard_queries(load(path))
        for selector in selectors(query)
    }
    families = {
        name.removesuffix("_bucket")
        for name in own_metrics()
        if not name.endswith(("_created", "_sum", "_count"))
    }
    missing = {family for family in families if not any(name.startswith(family) for name in drawn)}
    assert missing == set()


def test_dashboard_uids_and_titles_are_unique() -> None:
    dashboards = [load(path) for path in DASHBOARDS]
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    assert len({d["title"] for d in dashboards}) == len(dashboards)


def test_provisioning_points_at_the_dashboards_and_a_prometheus() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "nuanliu.yaml").read_text())
    assert [p["type"] for p in provider["providers"]] == ["file"]
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert [(d["type"], d.get("isDefault")) for d in datasources["datasources"]] == [("prometheus", True)]


# Grafana fills these in before the query reaches Prometheus; promtool needs plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def as_promql(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return re.sub(r"\$\{?\w+\}?", ".*", query)  # the dashboard's own variables sit in =~ matchers


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each query as a recording rule: a typo in a panel fails here, not on a screen."""
    rules = [
        {"record": f"dashboard:{path.stem}:{number}", "expr": as_promql(query)}
        for path in DASHBOARDS
        for number, (where, query) in enumerate(dashboard_queries(load(path)))
        if not where.startswith("variable")  # label_values() is Grafana's, not PromQL
    ]
    rules_file = tmp_path / "dashboard_queries.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_a_query_with_a_syntax_error_fails_promtool(promtool: str, tmp_path: Path) -> None:
    rules_file = tmp_path / "broken.yaml"
    expr = as_promql(
        'sum by (service) (rate(nuanliu_http_requests_total{service=~"$service"}[$__rate_interval])'
    )
    rules_file.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r:x", "expr": expr}]}]})
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


def synthetic(expr: str, *, in_row: bool = False, variable: str | None = None) -> dict[str, Any]:
    """A one-panel dashboard built like the real ones, querying `expr`."""
    dashboard = copy.deepcopy(load(GRAFANA / "dashboards" / "transfers.json"))
    panel = copy.deepcopy(dashboard["panels"][0])
    panel["targets"][0]["expr"] = expr
    if in_row:
        panel = {
            "id": 99,
            "type": "row",
            "title": "collapsed",
            "collapsed": True,
            "panels": [panel],
            "gridPos": {},
        }
    dashboard["panels"] = [panel]
    if variable:
        dashboard["templating"]["list"].append({"name": "v", "type": "query", "query": {"query": variable}})
    return dashboard


@pytest.mark.parametrize(
    ("made_up", "dashboard"),
    [
        ("nuanliu_made_up_total", synthetic("sum(rate(nuanliu_made_up_total[5m]))")),
        # A counter queried without its _total suffix exports nothing.
        ("nuanliu_http_requests", synthetic("sum(rate(nuanliu_http_requests[5m]))")),
        # A histogram's quantile needs _bucket; the family name alone is no series.
        (
            "temporal_activity_schedule_to_start_latency",
            synthetic("histogram_quantile(0.9, rate(temporal_activity_schedule_to_start_latency[5m]))"),
        ),
        ("nuanliu_outbox_pending_total", synthetic("nuanliu_outbox_pending_total > 0")),
        ("nuanliu_ghost", synthetic("nuanliu_transfers_open / on () nuanliu_ghost", in_row=True)),
        ("nuanliu_ghost_total", synthetic("up", variable="label_values(nuanliu_ghost_total, service)")),
        # A real metric with a label it does not have (the consumer metrics say `consumer`).
        ("has no label ['service']", synthetic('rate(nuanliu_consumer_handled_total{service="notify"}[5m])')),
        # "Per service" over a metric that has no service label: one unnamed line.
        ("groups by ['service']", synthetic("sum by (service) (rate(nuanliu_consumer_handled_total[5m]))")),
        ("groups by ['status']", synthetic("sum(nuanliu_deliveries_total) by (status)")),
    ],
    ids=[
        "unknown",
        "counter-without-total",
        "histogram-without-bucket",
        "gauge-with-total",
        "in-row",
        "variable",
        "label",
        "by-before",
        "by-after",
    ],
)
def test_a_made_up_metric_fails_the_check(made_up: str, dashboard: dict[str, Any]) -> None:
    found = dashboard_problems(dashboard)
    assert any(made_up in problem for problem in found), found


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum by (service) (rate(a_total{x=~"$v"}[$__rate_interval]))', {("a_total", ("x",))}),
        (
            "histogram_quantile(0.99, sum without (pid) (rate(b_bucket[5m] offset 1h))) > 1e3",
            {("b_bucket", ())},
        ),
        ('up{job="j"} == 0 or absent(up{job="j"})', {("up", ("job",))}),
        ("c and on (service) d unless ignoring (le) e", {("c", ()), ("d", ()), ("e", ())}),
        ('label_replace(f, "dst", "$1 by (x)", "src", "(.*)")', {("f", ())}),
        ('label_values(g{h="i"}, service)', {("g", ("h",))}),
        ("sum(rate(k[5m])) / sum(vector(1))", {("k", ())}),
    ],
)
def test_selectors_are_read_from_promql(expr: str, expected: set[tuple[str, tuple[str, ...]]]) -> None:
    assert {(s.metric, tuple(sorted(s.labels))) for s in selectors(expr)} == expected
