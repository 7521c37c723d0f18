"""Playwright for Python driving Debian's chromium. No browser is ever downloaded.

Import the fixtures into a test module (`from tests.browser.fixtures import browser, ...`): the
browser tests run on the e2e stacks, whose fixtures live in tests/e2e/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "console"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def ensure_chromium() -> None:
    """Install Debian's chromium with apt when missing and we are root; otherwise skip, saying why."""
    ensure_cjk_font()
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"browser tests need {CHROMIUM}: run `apt-get install -y chromium` as root")
    result = apt_install("chromium")
    if result.returncode != 0 or not CHROMIUM.exists():
        # As root with apt, a missing browser is a broken set-up, not a reason to skip the story.
        pytest.fail(f"could not install chromium with apt: {result.stderr[-500:]}")


def ensure_cjk_font() -> None:
    """Screenshots of Chinese pages need a CJK font; without one they show boxes (tests still run)."""
    if Path("/usr/share/fonts/truetype/wqy").exists() or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    apt_install("fonts-wqy-microhei")


def apt_install(package: str) -> subprocess.CompletedProcess[str]:
    """apt-get install, refreshing the package lists first if they are empty or stale."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env, timeout=600)
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    return result


# Module scope, not session: while Playwright's sync API is running, its event loop counts as
# running in this thread, so every later `asyncio.run` (Temporal tests) would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install -e '.[dev]')")
    ensure_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Screen:
    """One person's browser tab, collecting every JavaScript error the pages raise."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int], locale: str = "zh-CN") -> None:
        self.context = browser.new_context(base_url=base_url, viewport=viewport, locale=locale)
        # Generous: CI machines run several suites at once.
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        self.js_errors: list[str] = []
        self.page.on("pageerror", lambda error: self.js_errors.append(str(error)))
        self.page.on("console", self._on_console)
        self.page.on("response", self._on_response)
        self.page.on("requestfailed", self._on_request_failed)
        self.page.on("requestfinished", self._on_finished)

    def _on_console(self, message: Any) -> None:
        # Chromium logs "Failed to load resource" for a page served with 4xx too; a form shown
        # again with its errors is such a page, on purpose. Failed scripts, styles and htmx
        # calls are caught by _on_response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.js_errors.append(message.text)

    def _on_finished(self, request: Any) -> None:
        timing = request.timing
        took = timing["responseEnd"] - timing["requestStart"] if timing["responseEnd"] > 0 else -1
        if took > 200 and os.environ.get("CONSOLE_TRACE"):
            print(f"SLOW {took:.0f}ms {request.method} {request.url}", flush=True)

    def _on_request_failed(self, request: Any) -> None:
        # Leaving a page aborts its in-flight htmx calls (e.g. the unread badge): not an error.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.js_errors.append(f"failed ({request.failure}): {request.url}")

    def _on_response(self, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.js_errors.append(f"{response.status} {response.request.resource_type} {response.url}")

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()

    def assert_no_js_errors(self) -> None:
        assert self.js_errors == [], f"JavaScript errors in the console: {self.js_errors}"
