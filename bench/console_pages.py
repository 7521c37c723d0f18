"""What the console (a backend-for-frontend) costs on top of the API it calls.

The secretary's roster page (/roster: one call to registration's member list, then Jinja) is
measured against the same member list read straight from the registration API, with the same
token, the same page size and the same gunicorn configuration, in the same run.

    .venv/bin/python -m bench.console_pages [--seconds 8] [--clients 8]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable

import requests

from bench.common import emit, running_stack

PAGE_SIZE = 25


def closed_loop(
    make_session: Callable[[], requests.Session], url: str, clients: int, seconds: float
) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 in ms, with `clients` looping for `seconds`."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        session = make_session()
        mine = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            response = session.get(url, timeout=30, allow_redirects=False)
            mine.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    from tests.browser.support import make_branch
    from tests.support.builders import member_body
    from tests.support.console_http import ConsoleSession
    from tests.support.tokens import ADMIN, bearer

    with running_stack(["registration-api", "console-web"]) as stack:
        stack.wait_ready("registration")
        deadline = time.monotonic() + 60
        while True:  # the console's /readyz wants all four APIs; here only liveness matters
            try:
                if requests.get(stack.url("console") + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("console did not start: " + stack.tail("console-web"))
            time.sleep(0.3)
        registration, console = stack.url("registration"), stack.url("console")
        branch = make_branch(registration)["branch"]
        for _ in range(PAGE_SIZE):
            requests.post(
                f"{registration}/api/v1/members", json=member_body(branch), headers=ADMIN, timeout=10
            )
        secretary = bearer("branch_secretary", branch, sub="bench-secretary")

        def api_session() -> requests.Session:
            session = requests.Session()
            session.headers.update(secretary)
            return session

        def console_session() -> requests.Session:
            # The sign-in form carries its CSRF token: without it the roster would redirect to
            # the sign-in page, and the sign-in page would be what is timed.
            session = ConsoleSession(console)
            form = {"role": "branch_secretary", "org": branch, "sub": "bench-secretary", "name": "bench"}
            signed = session.post(f"{console}/signin", data=form, allow_redirects=False, timeout=10)
            if signed.status_code != 302:
                raise RuntimeError(f"sign-in answered {signed.status_code}")
            return session

        api_url = f"{registration}/api/v1/members?branch={branch}&limit={PAGE_SIZE}"
        page_url = f"{console}/roster"
        closed_loop(api_session, api_url, args.clients, 1.0)  # warm both up
        closed_loop(console_session, page_url, args.clients, 1.0)
        api_rps, api_p50, api_p99 = closed_loop(api_session, api_url, args.clients, args.seconds)
        page_rps, page_p50, page_p99 = closed_loop(console_session, page_url, args.clients, args.seconds)

    print(
        f"registration member list (baseline): {api_rps:.0f} req/s, p50 {api_p50:.1f} ms, p99 {api_p99:.1f} ms"
    )
    print(
        f"console roster page:                 {page_rps:.0f} req/s, p50 {page_p50:.1f} ms, p99 {page_p99:.1f} ms"
    )
    print(f"ratio (page / API throughput): {page_rps / api_rps:.2f}")
    emit(
        "console roster page throughput",
        page_rps,
        "req/s",
        "registration member list read directly",
        api_rps,
    )
    emit(
        "console roster page p50 (lower is better)", page_p50, "ms", "member list read directly p50", api_p50
    )


if __name__ == "__main__":
    main()
