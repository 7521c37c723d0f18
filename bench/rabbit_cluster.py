"""A real 3-node RabbitMQ cluster on this machine, from its own rabbitmq-server (for
bench/scale_out.py): three local nodes with their own names, ports and data under a folder of
var/, joined with `rabbitmqctl join_cluster`. As root the folders belong to the rabbitmq user
(Debian's scripts switch to it; the nodes then share its Erlang cookie)."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pika

from deploy.launcher import rabbitmq_server_path, rabbitmqctl_path
from tests.support.stack import free_port


@dataclass
class Node:
    name: str  # e.g. nuanliu-scale-1@localhost
    port: int
    base: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"


class RabbitCluster:
    def __init__(self, var_dir: Path, size: int = 3, prefix: str = "nuanliu-scale") -> None:
        server = rabbitmq_server_path()
        if server is None:
            raise SystemExit("rabbitmq-server is not installed")
        self.server = server
        self.ctl = rabbitmqctl_path(server)
        self.nodes = [
            self._node(var_dir / f"rabbit-{n}", f"{prefix}-{n}@localhost") for n in range(1, size + 1)
        ]

    def _node(self, base: Path, name: str) -> Node:
        for sub in ("mnesia", "log"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        port = free_port()
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{port}\n"
            # guest may connect from 127.0.0.1 only (the default); the cluster heals by itself.
            "cluster_partition_handling = pause_minority\n"
        )
        (base / "rabbitmq-env.conf").write_text("")
        env = dict(
            os.environ,
            RABBITMQ_NODENAME=name,
            RABBITMQ_NODE_PORT=str(port),
            RABBITMQ_DIST_PORT=str(free_port()),
            RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
            RABBITMQ_LOG_BASE=str(base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
        )
        if os.geteuid() == 0:
            user = pwd.getpwnam("rabbitmq")
            for path in [base.parent, base, *base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        return Node(name, port, base, env)

    def rabbitmqctl(self, node: Node, *args: str, check: bool = True, timeout: float = 120) -> str:
        done = subprocess.run(
            [self.ctl, "-n", node.name, *args], env=node.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: {done.stderr or done.stdout}")
        return done.stdout

    def start_node(self, node: Node) -> None:
        started = subprocess.run([self.server, "-detached"], env=node.env, capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"{node.name} did not start: {started.stderr or started.stdout}")
        self.rabbitmqctl(node, "wait", "--timeout", "120", str(node.base / "mnesia" / f"{node.name}.pid"))
        deadline = time.monotonic() + 120
        while not self.answers(node):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} does not answer on {node.port}")
            time.sleep(0.5)

    @staticmethod
    def answers(node: Node) -> bool:
        try:
            pika.BlockingConnection(pika.URLParameters(node.url + "?socket_timeout=2")).close()
            return True
        except Exception:  # noqa: BLE001 - not up (yet)
            return False

    def start(self) -> None:
        """Start every node, then join the others to the first."""
        first, *others = self.nodes
        for node in self.nodes:
            self.start_node(node)
        for node in others:
            self.rabbitmqctl(node, "stop_app")
            self.rabbitmqctl(node, "join_cluster", first.name)
            self.rabbitmqctl(node, "start_app")
        members = self.running_nodes()
        if len(members) != len(self.nodes):
            raise RuntimeError(f"cluster has {members}, expected {len(self.nodes)} nodes")

    def running_nodes(self) -> list[str]:
        node = next(n for n in self.nodes if self.answers(n))
        status = json.loads(self.rabbitmqctl(node, "cluster_status", "--formatter", "json"))
        return sorted(status["running_nodes"])

    def os_pid(self, node: Node) -> int:
        return int(self.rabbitmqctl(node, "eval", "list_to_integer(os:getpid()).").strip())

    def kill(self, node: Node) -> None:
        """SIGKILL the node's runtime: a crash, not a shutdown."""
        os.kill(self.os_pid(node), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.answers(node) and time.monotonic() < deadline:
            time.sleep(0.2)

    def quorum_members(self, queue: str) -> int:
        """How many nodes hold a replica of a quorum queue."""
        out = self.rabbitmqctl(self.nodes[0], "list_queues", "name", "members", "--no-table-headers", "-q")
        for line in out.splitlines():
            if line.split("\t", 1)[0] == queue:
                return line.count("@")
        return 0

    def stop(self) -> None:
        for node in self.nodes:
            self.rabbitmqctl(node, "stop", check=False, timeout=60)
