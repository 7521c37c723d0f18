"""The Prometheus alert rules: promtool accepts them, their unit tests pass and have teeth, and
they query only exported metrics and scraped jobs."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import PROJECT_ROOT
from tests.observability.metric_names import exported_metrics, problems

OBSERVABILITY = PROJECT_ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yaml"
ALERT_TESTS = OBSERVABILITY / "alerts_test.yaml"
SEVERITIES = {"critical", "warning"}


def load(path: Path) -> dict[str, Any]:
    # The C loader when PyYAML has it: the rule tests are long.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return loaded


def alert_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def rule_problems(document: dict[str, Any]) -> list[str]:
    exported = exported_metrics()
    found = []
    for rule in alert_rules(document):
        found += problems(rule["expr"], exported, f"alert {rule['alert']}")
    return found


def run(promtool: str, *args: str, cwd: Path = OBSERVABILITY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_example_scrape_config(promtool: str) -> None:
    result = run(promtool, "check", "config", str(OBSERVABILITY / "prometheus.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("replacement", "fire"), [("vector(0) > 1", True), ("vector(1)", False)], ids=["never", "always"]
)
def test_the_unit_tests_catch_a_broken_alert(
    promtool: str, tmp_path: Path, replacement: str, fire: bool
) -> None:
    """Every alert made never to fire fails all its firing cases; made always to fire, one of its
    quiet cases at least (a case showing that `for:` holds it back stays quiet either way).

    Every alert is broken at once: each case of alerts_test.yaml looks at one alert only."""
    document = load(ALERTS)
    for rule in alert_rules(document):
        rule["expr"] = replacement
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(document))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts_test.yaml")
    result = run(promtool, "test", "rules", "alerts_test.yaml", cwd=tmp_path)
    failed = set(re.findall(r"name: (.+?),\n\s+alertname: (\w+)", result.stdout + result.stderr))
    assert result.returncode != 0
    for rule in alert_rules(document):
        cases = {(case, alert) for case, alert in cases_of(rule["alert"]) if fires(case) == fire}
        caught = cases & failed
        assert caught == cases if fire else caught, f"{rule['alert']}: {sorted(cases - failed)}"


@cache
def alert_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = load(ALERT_TESTS)["tests"]
    return cases


def cases_of(alert: str) -> list[tuple[str, str]]:
    return [
        (case["name"], check["alertname"])
        for case in alert_cases()
        for check in case["alert_rule_test"]
        if check["alertname"] == alert
    ]


def fires(case_name: str) -> bool:
    return any(
        bool(check["exp_alerts"])
        for case in alert_cases()
        if case["name"] == case_name
        for check in case["alert_rule_test"]
    )


@pytest.mark.parametrize("rule", alert_rules(load(ALERTS)), ids=lambda rule: rule["alert"])
def test_every_alert_says_how_urgent_and_what_to_do(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), (
        "an alert needs a `for:` so one bad scrape does not page"
    )
    assert rule["labels"]["severity"] in SEVERITIES
    assert len(rule["annotations"]["summary"]) > 10
    assert len(rule["annotations"]["description"]) > 80


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    for rule in alert_rules(load(ALERTS)):
        outcomes = {fires(case) for case, _alert in cases_of(rule["alert"])}
        assert outcomes == {True, False}, rule["alert"]


def test_the_rules_query_only_exported_metrics() -> None:
    assert rule_problems(load(ALERTS)) == []


def test_the_jobs_the_rules_name_are_scraped() -> None:
    jobs = {job["job_name"] for job in load(OBSERVABILITY / "prometheus.yaml")["scrape_configs"]}
    named = set(re.findall(r'job="([^"]+)"', ALERTS.read_text()))
    assert named and named <= jobs


@pytest.mark.parametrize(
    ("made_up", "expr"),
    [
        ("nuanliu_outbox_age_seconds", "max by (service) (nuanliu_outbox_age_seconds) > 300"),
        ("nuanliu_dead_letters", "nuanliu_dead_letters > 0"),
        (
            "temporal_activity_schedule_to_start_latency_seconds_bucket",
            "histogram_quantile(0.95, sum by (le) (rate(temporal_activity_schedule_to_start_latency_seconds_bucket[5m])))",
        ),
        ("has no label ['status']", 'rate(nuanliu_http_request_seconds_count{status="500"}[5m]) > 0'),
        ("groups by ['service']", "max by (service) (nuanliu_dead_letter_messages) > 0"),
    ],
    ids=["unknown-gauge", "unknown-name", "sdk-name-in-seconds", "label", "grouping"],
)
def test_a_made_up_metric_in_a_rule_fails_the_check(made_up: str, expr: str) -> None:
    document = {"groups": [{"name": "g", "rules": [{"alert": "Synthetic", "expr": expr, "for": "1m"}]}]}
    found = rule_problems(document)
    assert any(made_up in problem for problem in found), found
