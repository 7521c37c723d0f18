"""The metric names the system exports, and the names (and label matchers) a PromQL query uses.

The dashboards and alert rules may only query what some process exports: the metrics defined in
shared/metrics.py, the Temporal SDK's (vendored in temporal_sdk_metrics.txt, see
record_sdk_metrics.py), and Prometheus's own `up`. A renamed metric would otherwise leave a panel
silently empty and an alert silently unable to fire.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from shared import metrics

SDK_METRICS = Path(__file__).with_name("temporal_sdk_metrics.txt")

# Labels Prometheus adds to every scraped series (job, instance) or that the example scrape
# config adds (process); not the exporting code's business.
TARGET_LABELS = frozenset({"job", "instance", "process"})

# The series a metric type exposes besides the family name itself. prometheus_client names a
# Counter's family without `_total`; `_created` is exported outside multiprocess mode.
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


def own_metrics() -> dict[str, frozenset[str]]:
    """Every series name shared.metrics exposes, with its label names (le on buckets)."""
    exported: dict[str, frozenset[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        # _labelnames: prometheus_client keeps the declared label names only there.
        labels = frozenset(value._labelnames)
        for family in value.describe():
            for suffix in SERIES_SUFFIXES[family.type]:
                name = family.name + suffix
                exported[name] = labels | {"le"} if suffix == "_bucket" else labels
    return exported


def sdk_metrics(path: Path = SDK_METRICS) -> dict[str, frozenset[str]]:
    """The vendored Temporal SDK series names with their label names."""
    exported: dict[str, frozenset[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _kind, *labels = line.split()
        names = frozenset(labels[0].split(",")) if labels else frozenset()
        exported[name] = names | {"le"} if name.endswith("_bucket") else names
    return exported


def exported_metrics() -> dict[str, frozenset[str]]:
    return {**own_metrics(), **sdk_metrics(), "up": frozenset()}


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: frozenset[str]


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?[\w$]+")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
# A name not followed by "(" (that is a function or an aggregation), with its optional matchers.
# Possessive `*+`: "rate(" must not match as "rat" followed by "e(".
_SELECTOR = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*+)\s*(\{[^}]*\})?(?!\s*\()")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "inf", "nan", "offset", "by", "without", "on", "ignoring"}
)
# Grafana's label_values(metric, label): the second argument is a label, not a metric.
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]*(?:\{[^}]*\})?)\s*,\s*\w+\s*\)")


def selectors(expr: str) -> list[Selector]:
    """The metric selectors of a PromQL expression (or a Grafana label_values() query)."""
    text = _LABEL_VALUES.sub(r"\1", expr)
    # Label names are read from the matchers before the values (strings) are blanked.
    text = _STRING.sub('""', text)
    for pattern in (_GROUPING, _RANGE, _OFFSET, _VARIABLE):
        text = pattern.sub(" ", text)
    found = []
    for match in _SELECTOR.finditer(text):
        name = match.group(1)
        if name.lower() in _KEYWORDS:
            continue
        labels = frozenset(_MATCHER_LABEL.findall(match.group(2) or ""))
        found.append(Selector(name, labels))
    return found


_BY_BEFORE = re.compile(r"\bby\s*\(([^)]*)\)\s*(?=\()")
_BY_AFTER = re.compile(r"\)\s*by\s*\(([^)]*)\)")


def groupings(expr: str) -> list[tuple[frozenset[str], str]]:
    """(labels, aggregated expression) for every `by (...)`, in either position."""
    text = _STRING.sub('""', expr)
    found = []
    for match in _BY_BEFORE.finditer(text):
        start = match.end()
        found.append((_label_list(match.group(1)), text[start : _closing(text, start) + 1]))
    for match in _BY_AFTER.finditer(text):
        end = match.start()
        found.append((_label_list(match.group(1)), text[_opening(text, end) : end + 1]))
    return found


def _label_list(text: str) -> frozenset[str]:
    return frozenset(label.strip() for label in text.split(",") if label.strip())


def _closing(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    return len(text) - 1


def _opening(text: str, end: int) -> int:
    depth = 0
    for index in range(end, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            return index
    return 0


def grouping_problems(expr: str, exported: dict[str, frozenset[str]], where: str) -> list[str]:
    """A `by (label)` that no metric inside the aggregation carries groups everything into one
    series with an empty label: the "per service" panel shows a single unnamed line."""
    found = []
    for labels, inner in groupings(expr):
        if "label_replace" in inner or "label_join" in inner:
            continue  # they make labels of their own
        inside = [exported.get(selector.metric) for selector in selectors(inner)]
        if not inside or None in inside:
            continue  # an unknown metric is reported on its own
        carried = (
            frozenset().union(*[labels_of for labels_of in inside if labels_of is not None]) | TARGET_LABELS
        )
        missing = labels - carried
        if missing:
            found.append(f"{where}: groups by {sorted(missing)}, which no metric inside carries")
    return found


def problems(expr: str, exported: dict[str, frozenset[str]], where: str) -> list[str]:
    """What is wrong with the metrics an expression queries: unknown names or labels."""
    found = grouping_problems(expr, exported, where)
    for selector in selectors(expr):
        known = exported.get(selector.metric)
        if known is None:
            found.append(f"{where}: {selector.metric!r} is not exported by any process")
            continue
        unknown = selector.labels - known - TARGET_LABELS - {"__name__"}
        if unknown:
            found.append(f"{where}: {selector.metric!r} has no label {sorted(unknown)}")
    return found


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, query) for every panel target (rows' nested panels too) and templating query."""
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"panel {panel.get('title')!r}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else query or ""
            yield f"variable {variable.get('name')!r}", text


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])
