"""The development launcher behind `make run` / `nuanliu run`.

It makes sure a broker answers (starting a private RabbitMQ node under var/ if need be),
migrates every service, seeds demo data, then runs every process of deploy/Procfile through
honcho until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from shared.bus import BrokerUnavailable, connect
from shared.settings import DEFAULT_PORTS, PROJECT_ROOT, SERVICES, Settings

PROCFILE = PROJECT_ROOT / "deploy" / "Procfile"
DEMO_USERS = PROJECT_ROOT / "deploy" / "idp" / "users.json"
DEV_ISSUER = "http://127.0.0.1:5009"
PRIVATE_NODE = "nuanliu@localhost"


def say(message: str) -> None:
    print(f"[nuanliu] {message}", flush=True)


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    """Process name → shell command, in file order."""
    from honcho.environ import parse_procfile

    return dict(parse_procfile(path.read_text()).processes)


def venv_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: the project's venv first on PATH, run from the root."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("NUANLIU_VAR_DIR", str(PROJECT_ROOT / "var"))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# --- the broker ---------------------------------------------------------------------------


def broker_answers(amqp_url: str) -> bool:
    try:
        connect(amqp_url, timeout=3).close()
        return True
    except BrokerUnavailable:
        return False


def rabbitmq_server_path() -> str | None:
    # Debian's /usr/sbin/rabbitmq-server is a wrapper that runs only as root (it switches to the
    # rabbitmq user); anyone else runs the real script behind it.
    candidates = ["/usr/sbin/rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server"]
    if os.geteuid() != 0:
        candidates.reverse()
    return next((p for p in candidates if Path(p).exists()), None) or shutil.which("rabbitmq-server")


def rabbitmqctl_path(server: str) -> str:
    sibling = Path(server).with_name("rabbitmqctl")
    return str(sibling) if sibling.exists() else shutil.which("rabbitmqctl") or "rabbitmqctl"


def install_rabbitmq() -> None:
    """As root on Debian/Ubuntu, install RabbitMQ with apt; otherwise say how to get it."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("RabbitMQ is not installed; installing rabbitmq-server with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "rabbitmq-server"], check=True, env=env)
        # Debian starts the system node on install; the private node is then not needed.
        return
    raise SystemExit(
        "No RabbitMQ answers at AMQP_URL and rabbitmq-server is not installed.\n"
        "Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server), or set AMQP_URL "
        "to a broker you have, then run `make run` again."
    )


def start_private_node(amqp_url: str, var_dir: Path) -> dict[str, str]:
    """A RabbitMQ node of our own under var/rabbitmq, on the port of AMQP_URL. Returns the
    environment that names it, for stopping it again."""
    server = rabbitmq_server_path()
    if server is None:
        install_rabbitmq()
        if broker_answers(amqp_url):
            return {}
        server = rabbitmq_server_path()
        if server is None:
            raise SystemExit("rabbitmq-server is still missing after installing it")
    base = var_dir / "rabbitmq"
    for sub in ("mnesia", "log"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    port = urlparse(amqp_url).port or 5672
    env = dict(
        os.environ,
        RABBITMQ_NODENAME=PRIVATE_NODE,
        RABBITMQ_NODE_PORT=str(port),
        RABBITMQ_DIST_PORT=str(port + 20000),
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
    )
    (base / "enabled_plugins").write_text("[].\n")
    # Its own configuration: the machine's /etc/rabbitmq files may pin another node's listener.
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (base / "rabbitmq-env.conf").write_text("")
    env["RABBITMQ_CONFIG_FILE"] = str(base / "rabbitmq.conf")
    env["RABBITMQ_CONF_ENV_FILE"] = str(base / "rabbitmq-env.conf")
    if os.geteuid() == 0:
        # Debian's rabbitmq-server switches to the rabbitmq user, which must own its folders.
        try:
            user = pwd.getpwnam("rabbitmq")
            for path in [base, *base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
    say(f"no broker answers; starting a private RabbitMQ node on port {port} under {base}")
    started = subprocess.run([server, "-detached"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(
            f"could not start a private RabbitMQ node with {server}: "
            f"{(started.stderr or started.stdout).strip()[-500:]}\n"
            "Start a broker yourself (e.g. sudo rabbitmq-server -detached) or set AMQP_URL to one."
        )
    deadline = time.monotonic() + 90
    while not broker_answers(amqp_url):
        if time.monotonic() > deadline:
            raise SystemExit(f"the private RabbitMQ node did not answer; see {base / 'log'}")
        time.sleep(1)
    env["NUANLIU_RABBITMQCTL"] = rabbitmqctl_path(server)
    return env


def stop_private_node(node_env: Mapping[str, str]) -> None:
    say("stopping the private RabbitMQ node")
    subprocess.run(
        [node_env["NUANLIU_RABBITMQCTL"], "-n", PRIVATE_NODE, "stop"],
        env=dict(node_env),
        capture_output=True,
        timeout=60,
    )


def ensure_broker(amqp_url: str, var_dir: Path) -> dict[str, str]:
    """Makes sure a broker answers; returns the private node's environment if one was started."""
    if broker_answers(amqp_url):
        return {}
    return start_private_node(amqp_url, var_dir)


# --- the stack ----------------------------------------------------------------------------


def prepare(settings: Settings) -> dict[str, str]:
    """Everything before the processes start: broker, migrations, demo data. Safe to repeat.
    Returns the environment of a private RabbitMQ node if one was started."""
    from deploy import seed
    from deploy.processes import migrate_services

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    private_node = ensure_broker(settings.amqp_url, settings.var_dir)
    migrate_services(SERVICES, report=lambda _line: None)
    say("databases migrated")
    seed.seed_all()
    return private_node


def sign_in_help(var_dir: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """How to sign in to the development stack: the demo staff of the development OpenID
    provider (deploy/idp/users.json) with their password, and where members' SMS codes land."""
    env = os.environ if environ is None else environ
    console = f"http://127.0.0.1:{DEFAULT_PORTS['console']}"
    users = json.loads(DEMO_USERS.read_text())["users"]
    passwords = sorted({user["password"] for user in users})
    sms_file = env.get("NUANLIU_SMS_OUTBOX_FILE") or str(var_dir / "sms.log")
    lines = [
        "sign in (development only):",
        f"  staff: {console}/signin → the development OpenID provider ({DEV_ISSUER}),",
        f"         user name as below, password {' / '.join(passwords)}",
    ]
    for user in users:
        roles = ", ".join(f"{role['role']} {role['org']}" for role in user.get("roles", [])) or "admin"
        lines.append(f"    {user['sub']:<15} {user['name']}  ({roles})")
    lines += [
        f"  members: {console}/signin/sms with a seeded member's phone; the 6-digit code is",
        f"           written to {sms_file} (one JSON line per SMS, the newest last)",
    ]
    return lines


def print_urls(settings: Settings) -> None:
    say("the stack is starting; when ready:")
    say(f"  {'console':<13} http://127.0.0.1:{DEFAULT_PORTS['console']}/")
    for name, port in DEFAULT_PORTS.items():
        if name in SERVICES:
            say(f"  {name:<13} http://127.0.0.1:{port}/docs   (ready: /readyz)")
    say("  Temporal UI   http://127.0.0.1:8233")
    say("  a token:      .venv/bin/nuanliu token --role admin --org CN --sub admin")
    say("Ctrl-C stops everything.")


def announce_sign_in_when_up(settings: Settings, timeout: float = 300.0) -> threading.Thread:
    """Print how to sign in once the console and the OpenID provider answer (the lines would
    scroll away among the processes' start-up logs if printed before)."""

    def wait_and_print() -> None:
        deadline = time.monotonic() + timeout
        targets = (
            f"http://127.0.0.1:{DEFAULT_PORTS['console']}/healthz",
            f"{DEV_ISSUER}/.well-known/openid-configuration",
        )
        while time.monotonic() < deadline:
            if all(_answers(url) for url in targets):
                say("the stack is up.")
                for line in sign_in_help(settings.var_dir):
                    say(line)
                return
            time.sleep(1.0)

    thread = threading.Thread(target=wait_and_print, name="sign-in-help", daemon=True)
    thread.start()
    return thread


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def run() -> int:
    from honcho.manager import Manager

    settings = Settings.from_env("launcher")
    private_node = prepare(settings)
    env = venv_env()
    manager = Manager()
    for name, command in read_procfile().items():
        manager.add_process(name, command, env=env, cwd=str(PROJECT_ROOT))
    print_urls(settings)
    announce_sign_in_when_up(settings)
    try:
        manager.loop()
    finally:
        # Ctrl-C stops everything this command started, the broker node included.
        if private_node:
            stop_private_node(private_node)
    return manager.returncode or 0
