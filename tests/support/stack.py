"""Runs the real processes of deploy/Procfile on free ports for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from deploy.launcher import read_procfile, venv_env
from shared.settings import PROJECT_ROOT

PORT_VARIABLES = {
    "registration": "REGISTRATION_PORT",
    "transfer": "TRANSFER_PORT",
    "tasks": "TASKS_PORT",
    "notify": "NOTIFY_PORT",
    "console": "CONSOLE_PORT",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def own_temporal_env(task_queue_prefix: str | None = None) -> dict[str, str]:
    """Ports (and, with a prefix, a task queue) for a stack's own Temporal dev server."""
    port = free_port()
    env = {
        "TEMPORAL_PORT": str(port),
        "TEMPORAL_UI_PORT": str(free_port()),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
    }
    if task_queue_prefix:
        env["NUANLIU_TASK_QUEUE"] = f"{task_queue_prefix}-{port}"
    return env


class Stack:
    """Some of the Procfile's processes, with their own ports, databases and broker prefix."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.ports = {service: free_port() for service in PORT_VARIABLES}
        self.env = venv_env({**env, **{PORT_VARIABLES[s]: str(p) for s, p in self.ports.items()}})
        for service, port in self.ports.items():
            self.env[f"NUANLIU_{service.upper()}_URL"] = f"http://127.0.0.1:{port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands = read_procfile()
        # Every background process serves /healthz and /metrics on a port of its own, as in k8s.
        self.health_ports: dict[str, int] = {}

    def migrate(self) -> None:
        """Migrates the stack's databases with the operator's own command, as `make run` does."""
        subprocess.run([sys.executable, "-m", "deploy.cli", "migrate"], env=self.env, check=True)

    def health_url(self, process: str) -> str:
        return f"http://127.0.0.1:{self.health_ports[process]}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, *names: str) -> None:
        for name in names:
            log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
            env = self.env
            if self.commands[name].startswith("nuanliu "):
                self.health_ports[name] = free_port()
                env = {**self.env, "NUANLIU_HEALTH_PORT": str(self.health_ports[name]), "NUANLIU_HEALTH_HOST": "127.0.0.1"}
            self.processes[name] = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {self.commands[name]}"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def wait_ready(self, *services: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(services)
        while pending:
            for service in list(pending):
                try:
                    if requests.get(self.url(service) + "/readyz", timeout=2).status_code == 200:
                        pending.discard(service)
                except requests.RequestException:
                    pass
            if not pending:
                return
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self.tail(name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready: {sorted(pending)}")
            time.sleep(0.3)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        for name in list(self.processes):
            process = self.processes.pop(name)
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start_ready(
    make: Callable[[], Stack], names: tuple[str, ...], services: tuple[str, ...], timeout: float
) -> Stack:
    """Start `names` of a stack from `make` and wait for `services`; once more, on the fresh ports
    of a new `make()`, if a process dies at start-up. A port is free when picked but may be taken
    before it is bound (the dev server also picks free ports of its own). A real start-up fault
    dies twice and is raised; the first death is printed, never hidden."""
    for attempt in (1, 2):
        stack = make()
        try:
            stack.start(*names)
            stack.wait_ready(*services, timeout=timeout)
            return stack
        except RuntimeError as error:
            stack.stop()
            if attempt == 2:
                raise
            print(f"stack start-up failed, retrying on fresh ports: {error}", file=sys.stderr)
    raise AssertionError("unreachable")
