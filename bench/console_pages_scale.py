"""The console's pages at 1,000,000 members on PostgreSQL, against the API calls each page wraps,
measured in the same run on the same database.

A fresh PostgreSQL database gets the registration schema seeded by bench.registration_scale's
COPY (1,000,000 members in 100,000 orgs by default); registration, transfer, tasks and the
console then run under gunicorn with the deployment's configuration (bench.common.running_stack).
For each page and each desk (a branch secretary, a township officer, a county's and a province's
org department) the page and the API calls it makes are requested one after the other, in
alternation, so both see the same load; the figures are the server time the client waits for
(loopback, one request at a time), p50 and p95, and the page's p95 as a ratio of its calls' p95.

Pages (`--pages`, comma separated):
- `roster`: /roster?branch=<org> — one `GET /members?branch=<org>&limit=25`;
- `dashboard`: /dashboard?org=<org> — the calls services.console.dashboards.build makes for the
  desk's role (`dashboard_calls` below mirrors it), so a dashboard with other stats endpoints is
  measured by changing that function, not the harness.

    .venv/bin/python -m bench.console_pages_scale [--members N] [--orgs N] [--samples 60]
        [--pages roster,dashboard]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from bench import registration_scale
from bench.common import emit, running_stack
from bench.registration_common import PG_ADMIN_URL
from bench.registration_scale import PROVINCES, percentile, township_path

PAGE_SIZE = 25
CHINA = timezone(timedelta(hours=8))
TARGET_P95_MS = 300.0


def roster_calls(role: str, org: str) -> list[tuple[str, dict[str, str]]]:
    return [("/api/v1/members", {"branch": org, "limit": str(PAGE_SIZE)})]


def dashboard_calls(role: str, org: str) -> list[tuple[str, dict[str, str]]]:
    """What services.console.dashboards.build asks for a desk (the per-role dashboards): keep in
    step with it when it changes."""
    from services.console.dashboards import OFFICERS, OPEN_TASKS_READ

    month = datetime.now(CHINA).strftime("%Y-%m")
    calls = [
        ("/api/v1/stats/breakdown", {"org": org, "month": month}),
        ("/api/v1/stats/flows", {"org": org}),
        ("/api/v1/stats/transfers", {"org": org}),
    ]
    if role in OFFICERS:
        return [*calls, ("/api/v1/stats/tasks", {"org": org})]
    return [*calls, ("/api/v1/tasks", {"status": "open", "limit": str(OPEN_TASKS_READ)})]


Calls = Callable[[str, str], list[tuple[str, dict[str, str]]]]
# page name → (console path, the query the page takes for an org, the API calls it makes)
PAGES: dict[str, tuple[str, Callable[[str], dict[str, str]], Calls]] = {
    "roster": ("/roster", lambda org: {"branch": org}, roster_calls),
    "dashboard": ("/dashboard", lambda org: {"org": org}, dashboard_calls),
}
SERVICE_OF = {
    "members": "registration", "stats/coverage": "registration", "stats/breakdown": "registration",
    "stats/flows": "registration", "stats/transfers": "transfer", "stats/tasks": "tasks", "tasks": "tasks",
}  # fmt: skip


def service_of(path: str) -> str:
    rest = path.removeprefix("/api/v1/")
    return SERVICE_OF[rest]


def measure_desk(
    stack: Any, console: str, path: str, page_query: dict[str, str], calls: list[tuple[str, dict[str, str]]],
    label: str, role: str, org: str, samples: int,
) -> tuple[list[float], list[float]]:
    """Seconds per page view and per set of the API calls it wraps, `samples` of each, alternating
    which goes first (neither side warms the database for the other), after three of each to warm."""
    from tests.support.console_http import ConsoleSession
    from tests.support.tokens import bearer

    sub = f"bench-{role}"
    api = requests.Session()
    api.headers.update(bearer(role, org, sub=sub))
    browser = ConsoleSession(console)  # sign-in is a form: it carries its CSRF token
    signed = browser.post(
        f"{console}/signin", data={"role": role, "org": org, "sub": sub, "name": "bench"}, allow_redirects=False, timeout=10
    )
    if signed.status_code != 302:
        raise RuntimeError(f"sign-in as {label} answered {signed.status_code}")
    refused: set[str] = set()

    def read_calls() -> float:
        started = time.perf_counter()
        for call, query in calls:
            answer = api.get(stack.url(service_of(call)) + call, params=query, timeout=60)
            # A refusal (a secretary's stats/tasks: 403) is what the page meets too, and shows
            # as "–"; only a failure stops the run.
            if answer.status_code >= 500:
                raise RuntimeError(f"{call} answered {answer.status_code}: {answer.text[:300]}")
            if answer.status_code != 200 and call not in refused:
                refused.add(call)
                print(f"  note: {call} answers {answer.status_code} for the {label}")
        return time.perf_counter() - started

    def read_page() -> float:
        started = time.perf_counter()
        # Not followed: a redirect (to sign-in) would time the wrong page.
        answer = browser.get(console + path, params=page_query, timeout=60, allow_redirects=False)
        seconds = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code} for the {label}")
        return seconds

    page_times: list[float] = []
    api_times: list[float] = []
    for sample in range(samples + 3):
        if sample % 2:
            page_seconds = read_page()
            api_seconds = read_calls()
        else:
            api_seconds = read_calls()
            page_seconds = read_page()
        if sample >= 3:
            api_times.append(api_seconds)
            page_times.append(page_seconds)
    return page_times, api_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=60, help="requests per page, desk and side")
    parser.add_argument("--pages", default="roster,dashboard")
    args = parser.parse_args()
    pages = [name.strip() for name in args.pages.split(",") if name.strip()]
    unknown = set(pages) - set(PAGES)
    if unknown:
        parser.error(f"unknown pages: {', '.join(sorted(unknown))} (known: {', '.join(PAGES)})")

    print(f"load average before: {os.getloadavg()}")
    # transfer is ready only with its Temporal server (its readiness checks it)
    processes = ["temporal", "registration-api", "transfer-api", "tasks-api", "console-web"]
    with running_stack(processes, database_url=PG_ADMIN_URL) as stack:
        url = stack.env["DATABASE_URL"]
        seconds, per_township = registration_scale.seed(url, args.orgs, args.members)
        print(f"seeded {args.members:,} members and {args.orgs:,} orgs in {seconds:.1f} s")
        console = stack.url("console")
        deadline = time.monotonic() + 60
        while requests.get(console + "/healthz", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("console did not start: " + stack.tail("console-web"))
            time.sleep(0.3)

        rng = random.Random(5)
        # a township with branches (every one has some at 100,000 orgs; a small run fills the first)
        branches = args.orgs - registration_scale.UPPER_LEVELS
        township, _ = township_path(rng.randrange(min(PROVINCES * 10 * 9 * 10, max(branches, 1))))
        desks = [
            ("branch secretary", "branch_secretary", f"{township}B{rng.randrange(max(per_township, 1))}"),
            ("township officer", "township_officer", township),
            ("county department", "org_department", township[:-2]),
            ("province department", "org_department", township.split("C")[0]),
        ]
        print(f"{'page':<10} {'desk':<20} {'page p50':>9} {'page p95':>9} {'API p50':>9} {'API p95':>9} {'p95 ratio':>9}")
        worst = 0.0
        for page in pages:
            path, page_query, calls_of = PAGES[page]
            for label, role, org in desks:
                page_times, api_times = measure_desk(
                    stack, console, path, page_query(org), calls_of(role, org), label, role, org, args.samples
                )
                page_p95, api_p95 = percentile(page_times, 0.95), percentile(api_times, 0.95)
                worst = max(worst, page_p95)
                print(
                    f"{page:<10} {label:<20} {percentile(page_times, 0.5):7.1f}ms {page_p95:7.1f}ms"
                    f" {percentile(api_times, 0.5):7.1f}ms {api_p95:7.1f}ms {page_p95 / api_p95:9.2f}"
                )
                emit(
                    f"console {page} page p95, {label}, {args.members:,} members (lower is better)",
                    page_p95, "ms", "the API calls it wraps, p95", api_p95,
                )  # fmt: skip
        print(f"worst page p95: {worst:.1f} ms (target < {TARGET_P95_MS:.0f} ms) at {args.members:,} members")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
