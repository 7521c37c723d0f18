"""Metrics that tell the truth: a scrape of a gunicorn API sums every worker, and a background
process serves its health and metrics on a port of its own."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from deploy.launcher import venv_env
from shared.settings import PROJECT_ROOT
from tests.support.stack import free_port


def _healthz_count(text: str) -> float:
    pattern = r'nuanliu_http_requests_total\{[^}]*endpoint="/healthz"[^}]*status="200"[^}]*\} ([0-9.e+]+)'
    return sum(float(value) for value in re.findall(pattern, text))


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def test_every_scrape_of_a_gunicorn_api_counts_every_worker(tmp_path: Path) -> None:
    port = free_port()
    metrics_port = free_port()
    env = venv_env(
        {
            "NUANLIU_VAR_DIR": str(tmp_path),
            "NUANLIU_WEB_WORKERS": "3",
            "NUANLIU_METRICS_PORT": str(metrics_port),
            "NUANLIU_METRICS_HOST": "127.0.0.1",
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [
        sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", "services.registration.app:create_app()",
    ]  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/healthz")
        before = _healthz_count(requests.get(f"{base}/metrics", timeout=5).text)
        for _ in range(60):  # a new connection each: they land on several workers
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        counts = [_healthz_count(requests.get(f"{base}/metrics", timeout=5).text) for _ in range(6)]
        # Any worker answers the scrape, and each sums the samples of all three.
        assert counts == [before + 60] * 6, counts
        separate = _healthz_count(requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text)
        assert separate == before + 60
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_background_process_serves_health_and_metrics_on_its_own_port(tmp_path: Path) -> None:
    from shared import metrics
    from shared.process_health import serve_health

    alive = {"value": True}
    server = serve_health("test-relay", lambda: alive["value"], port=0, host="127.0.0.1")
    assert server is not None
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        metrics.RELAY_PUBLISHED.labels("test-service").inc(3)
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok", "process": "test-relay"}
        text = requests.get(f"{base}/metrics", timeout=5).text
        assert 'nuanliu_relay_published_total{service="test-service"} 3.0' in text
        alive["value"] = False
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 503
        assert requests.get(f"{base}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
