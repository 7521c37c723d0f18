"""Writes deploy/k8s/base/processes.yaml and network-policies.yaml from deploy/Procfile.

Fourteen Deployments differ only in command, port and a few flags; writing them by hand let them
drift (a probe or a securityContext forgotten on one). The commands come from the Procfile, so a
process added there shows up here (or the freshness test fails until this is re-run):

    .venv/bin/python deploy/k8s/render.py

tests/deploy/test_manifests.py checks that the committed files equal this script's output.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PROCFILE = HERE.parent / "Procfile"
BASE = HERE / "base"
APP_UID = 10001
HEALTH_PORT = 9100
# The client certificate and the internal CA (base/certificates.yaml), mounted read-only.
TLS_DIR = "/etc/nuanliu/tls"
# Where the engines live (deploy/k8s/data and the Temporal Helm release).
DATA_NAMESPACE = "nuanliu-data"
TEMPORAL_NAMESPACE = "temporal"
DEVELOPMENT_ONLY = ("temporal", "idp")
INGRESS_NAMESPACE = "ingress-nginx"
POOLER = "nuanliu-pooler-rw"
RABBITMQ = "nuanliu-rabbitmq"
REDIS = "nuanliu-redis"
SERVICES = ("registration", "transfer", "tasks", "notify")
# Processes that open a Temporal client: the transfer API starts workflows; the three workers poll
# task queues (registration's and tasks' run their schedules). No other process may reach Temporal.
# The processes that open a Temporal client: the transfer API's gateway, the workers, and the notify
# dispatcher (its retention worker runs on a thread of it).
TEMPORAL_CLIENTS = {
    "transfer-api",
    "transfer-worker",
    "registration-worker",
    "tasks-worker",
    "notify-dispatcher",
}
# Who calls whose HTTP API inside the cluster (services/*/clients, the console's backend).
API_CALLERS = {
    # notify reads org and member names for its notices, and a member's phone to send their SMS.
    "registration-api": {
        "console-web",
        "tasks-api",
        "transfer-api",
        "transfer-worker",
        "notify-consumer",
        "notify-dispatcher",
    },
    "transfer-api": {"console-web"},
    "tasks-api": {"console-web"},
    "notify-api": {"console-web"},
}
# Processes that talk to RabbitMQ: the relays publish, the consumer consumes, the APIs report the
# broker in /readyz.
BROKER_CLIENTS = {"registration-relay", "transfer-relay", "tasks-relay", "notify-consumer"}


@dataclass(frozen=True)
class Process:
    name: str
    command: list[str]
    port: int | None  # the HTTP port of an API or the console; None for background processes

    @property
    def kind(self) -> str:
        if self.name == "console-web":
            return "console"
        return "api" if self.port else "background"

    @property
    def service(self) -> str | None:
        """The service whose database this process uses (the console has none)."""
        prefix = self.name.split("-")[0]
        return prefix if prefix in SERVICES else None


def read_processes(procfile: Path = PROCFILE) -> list[Process]:
    """Every Procfile process but the development-only ones (the Temporal dev server, the dev
    OpenID provider), listening on all interfaces."""
    processes = []
    for line in procfile.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, command = (part.strip() for part in line.split(":", 1))
        if name in DEVELOPMENT_ONLY:
            # Production runs the Temporal cluster of deploy/temporal/values.yaml and points
            # NUANLIU_OIDC_ISSUER at the organization's own OpenID provider (docs/identity.md).
            continue
        bind = re.search(r"--bind 127\.0\.0\.1:\$\{\w+:-(\d+)\}", command)
        port = int(bind.group(1)) if bind else None
        if bind:
            command = command.replace(bind.group(0), f"--bind 0.0.0.0:{port}")
        processes.append(Process(name, shlex.split(command), port))
    return processes


def labels(process: Process) -> dict[str, str]:
    result = {
        "app.kubernetes.io/name": "nuanliu",
        "app.kubernetes.io/component": process.name,
        "app.kubernetes.io/part-of": "nuanliu",
        "nuanliu.org/kind": process.kind,
        # Everything without this label (engines, config, secrets, policies, the migrate Job) is
        # applied first: kubectl apply -k <overlay> -l 'nuanliu.org/layer!=processes'.
        "nuanliu.org/layer": "processes",
    }
    if process.name in TEMPORAL_CLIENTS:
        result["nuanliu.org/temporal-client"] = "true"
    return result


def selector(process: Process) -> dict[str, str]:
    return {"app.kubernetes.io/name": "nuanliu", "app.kubernetes.io/component": process.name}


# Which service's client credentials a process presents when it calls another service (the
# token service's client-credentials grant): the callers of API_CALLERS, by their service.
SERVICE_CALLERS = {"transfer", "tasks", "notify", "console"}


def env_of(process: Process) -> list[dict[str, Any]]:
    """What a process needs to start in production beyond the ConfigMap: every value that
    production refuses to default (shared/settings.py `development_defaults`) comes from a
    Secret here; tests/deploy checks that each process's settings load from exactly this."""
    env: list[dict[str, Any]] = []
    owner = process.service or ("console" if process.kind == "console" else None)
    if process.service:
        # The role's URL through the pooler, composed by the ExternalSecret (base/external-secrets.yaml).
        env.append(
            secret_env(f"{process.service.upper()}_DATABASE_URL", f"nuanliu-db-{process.service}", "uri")
        )
        # Every process of a service loads the same settings, which refuse the broker's default
        # credentials; only the broker's clients may reach it (network-policies.yaml).
        env.append(secret_env("AMQP_URL", "nuanliu-app", "amqp-url"))
    # Rate-limit counters shared by every worker and pod (Redis in the data namespace).
    env.append(secret_env("NUANLIU_RATELIMIT_STORAGE", "nuanliu-app", "ratelimit-storage"))
    if owner in SERVICE_CALLERS:
        env.append(secret_env("NUANLIU_CLIENT_SECRET", "nuanliu-app", f"client-secret-{owner}"))
    if process.service == "registration":
        # The token service: its signing key (and the previous one during a rollover, see
        # docs/identity.md), the services' client secrets, the pepper of SMS codes, and the key of
        # the ID-number search's hashes.
        env += [
            secret_env("NUANLIU_SIGNING_KEY", "nuanliu-signing-keys", "current.pem"),
            secret_env("NUANLIU_SIGNING_KEY_PREVIOUS", "nuanliu-signing-keys", "previous.pem", optional=True),
            secret_env("NUANLIU_CLIENT_SECRETS", "nuanliu-app", "client-secrets"),
            secret_env("NUANLIU_OTP_PEPPER", "nuanliu-app", "otp-pepper"),
            secret_env("NUANLIU_ID_HASH_KEY", "nuanliu-app", "id-hash-key"),
        ]
    if process.service == "transfer":
        env.append(secret_env("NUANLIU_TRANSFER_PROOF_KEY", "nuanliu-app", "transfer-proof-key"))
    if process.service == "notify":
        env.append(secret_env("NUANLIU_WEBHOOK_SECRET", "nuanliu-app", "webhook-secret"))
    if process.service in ("notify", "registration"):
        # The SMS gateway: notify's SMS channel, and registration's sign-in codes.
        env += [
            secret_env("NUANLIU_SMS_ACCESS_KEY_ID", "nuanliu-sms", "access-key-id"),
            secret_env("NUANLIU_SMS_ACCESS_KEY_SECRET", "nuanliu-sms", "access-key-secret"),
        ]
    if process.kind == "console":
        env += [
            secret_env("NUANLIU_CONSOLE_SECRET", "nuanliu-app", "console-secret"),
            secret_env("NUANLIU_CONSOLE_OIDC_CLIENT_SECRET", "nuanliu-app", "console-oidc-client-secret"),
        ]
    if process.kind == "background":
        env.append({"name": "NUANLIU_HEALTH_PORT", "value": str(HEALTH_PORT)})
    if process.name in TEMPORAL_CLIENTS:
        # mTLS to the Temporal frontend (deploy/temporal/values.yaml requires client certificates).
        env += [
            {"name": "TEMPORAL_TLS_CA_FILE", "value": f"{TLS_DIR}/ca.crt"},
            {"name": "TEMPORAL_TLS_CERT_FILE", "value": f"{TLS_DIR}/tls.crt"},
            {"name": "TEMPORAL_TLS_KEY_FILE", "value": f"{TLS_DIR}/tls.key"},
            {"name": "TEMPORAL_TLS_SERVER_NAME", "value": "temporal-frontend.temporal.svc"},
        ]
    # The internal CA that signed the broker's and Temporal's certificates (amqps, mTLS).
    env.append({"name": "NUANLIU_CA_FILE", "value": f"{TLS_DIR}/ca.crt"})
    return env


def secret_env(name: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def probes(process: Process) -> dict[str, Any]:
    port = "http" if process.port else "health"
    ready_path = "/readyz" if process.port else "/healthz"

    def get(path: str, **timing: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": port}, "timeoutSeconds": 3, **timing}

    return {
        # Up to 60 s to import, connect and (workers) register with Temporal before liveness counts.
        "startupProbe": get("/healthz", periodSeconds=2, failureThreshold=30),
        "livenessProbe": get("/healthz", periodSeconds=10, failureThreshold=3),
        "readinessProbe": get(ready_path, periodSeconds=5, failureThreshold=2),
    }


def resources(process: Process) -> dict[str, Any]:
    if process.kind in ("api", "console"):
        return {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    if process.name.endswith("-worker"):
        return {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    return {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def container(process: Process) -> dict[str, Any]:
    ports = (
        [{"name": "http", "containerPort": process.port}]
        if process.port
        else [{"name": "health", "containerPort": HEALTH_PORT}]
    )
    result: dict[str, Any] = {
        "name": process.name,
        "image": "nuanliu",
        "command": process.command,
        "ports": ports,
        "envFrom": [{"configMapRef": {"name": "nuanliu-config"}}],
        "env": env_of(process),
        "resources": resources(process),
        **probes(process),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": APP_UID,
            "runAsGroup": APP_UID,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "data", "mountPath": "/data"},
            {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
        ],
    }
    if process.port:
        # The drain: keep serving while the endpoint removal reaches every node's proxy and the
        # ingress, then gunicorn gets SIGTERM and finishes its requests (graceful_timeout 10 s).
        result["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "10"]}}}
    return result


def deployment(process: Process) -> dict[str, Any]:
    # Workers finish their running activities on SIGTERM; the others stop within seconds.
    grace = 60 if process.name.endswith("-worker") else 30
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(process)},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    spec: dict[str, Any] = {} if process.kind == "api" else {"replicas": 2}
    # The APIs' replica count belongs to their HPA: a replicas field here would reset it on every apply.
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {
            **spec,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(process)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(process)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": APP_UID,
                        "runAsGroup": APP_UID,
                        "fsGroup": APP_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": spread,
                    "containers": [container(process)],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tls", "secret": {"secretName": "nuanliu-client-tls", "defaultMode": 0o440}},
                    ],
                },
            },
        },
    }


def service(process: Process) -> dict[str, Any]:
    assert process.port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {
            "selector": selector(process),
            "ports": [{"name": "http", "port": process.port, "targetPort": "http"}],
        },
    }


def pdb(process: Process) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(process)}},
    }


def hpa(process: Process) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": process.name},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
            # Scale in slowly: a burst of check-ins at a meeting's start comes in waves.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def render_processes(processes: list[Process]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for process in processes:
        objects.append(deployment(process))
        if process.port:
            objects.append(service(process))
        objects.append(pdb(process))
        if process.kind == "api":
            objects.append(hpa(process))
    return objects


# --- network policies ---------------------------------------------------------------------


def policy(name: str, pod_selector: dict[str, str], **rules: list[dict[str, Any]]) -> dict[str, Any]:
    types = [kind for kind in ("Ingress", "Egress") if kind.lower() in rules]
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": pod_selector} if pod_selector else {},
        "policyTypes": types,
    }
    spec.update(rules)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def in_namespace(namespace: str, pods: dict[str, str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": pods},
    }


def tcp(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def render_policies(processes: list[Process]) -> list[dict[str, Any]]:
    by_name = {process.name: process for process in processes}
    objects = [
        # Nothing in the namespace talks to anything unless a policy below allows it.
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        policy(
            "allow-dns",
            {},
            egress=[
                {
                    "to": [in_namespace("kube-system", {"k8s-app": "kube-dns"})],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        ),
    ]
    for process in processes:
        objects.extend(process_policies(process, by_name))
    objects.append(
        policy(
            "migrate",
            {"app.kubernetes.io/component": "migrate"},
            egress=[
                {
                    # Straight to the primary, not the pooler: the migration's advisory lock is a
                    # session lock, which transaction pooling would hand to another client.
                    "to": [in_namespace(DATA_NAMESPACE, {"cnpg.io/cluster": "nuanliu-pg"})],
                    "ports": tcp(5432),
                }
            ],
        )
    )
    return objects


def process_policies(process: Process, by_name: dict[str, Process]) -> list[dict[str, Any]]:
    egress: list[dict[str, Any]] = []
    if process.service:
        egress.append(
            {"to": [in_namespace(DATA_NAMESPACE, {"cnpg.io/poolerName": POOLER})], "ports": tcp(5432)}
        )
    if process.name in BROKER_CLIENTS or process.kind == "api":
        egress.append(
            {"to": [in_namespace(DATA_NAMESPACE, {"app.kubernetes.io/name": RABBITMQ})], "ports": tcp(5671)}
        )
    if process.kind in ("api", "console"):
        # The rate limiters' shared counters (data/redis.yaml).
        egress.append(
            {"to": [in_namespace(DATA_NAMESPACE, {"app.kubernetes.io/name": REDIS})], "ports": tcp(6379)}
        )
    if process.name in TEMPORAL_CLIENTS:
        frontend = {"app.kubernetes.io/name": "temporal", "app.kubernetes.io/component": "frontend"}
        egress.append({"to": [in_namespace(TEMPORAL_NAMESPACE, frontend)], "ports": tcp(7233)})
    callees = [api for api, callers in API_CALLERS.items() if process.name in callers]
    for api in callees:
        egress.append(
            {"to": [{"podSelector": {"matchLabels": selector(by_name[api])}}], "ports": tcp("http")}
        )
    if process.name == "notify-dispatcher":
        # Mail and webhooks leave the cluster; private ranges stay closed.
        outside = {
            "ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}
        }
        egress.append({"to": [outside], "ports": tcp(25, 465, 587, 443)})

    ingress: list[dict[str, Any]] = []
    if process.port:
        sources: list[dict[str, Any]] = [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": INGRESS_NAMESPACE}}}
        ]
        sources += [
            {"podSelector": {"matchLabels": selector(by_name[c])}}
            for c in sorted(API_CALLERS.get(process.name, ()))
        ]
        ingress.append({"from": sources, "ports": tcp("http")})
    # Probes come from the kubelet on the node, which NetworkPolicies do not filter; metrics are
    # scraped from the monitoring namespace.
    scrape = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ingress.append({"from": [scrape], "ports": tcp("http" if process.port else "health")})
    return [policy(process.name, selector(process), ingress=ingress, egress=egress)]


def dump(objects: list[dict[str, Any]], what: str) -> str:
    header = f"# {what}\n# Generated by deploy/k8s/render.py from deploy/Procfile: edit that script, not this file.\n"
    return header + yaml.safe_dump_all(objects, sort_keys=False, width=120)


def outputs() -> dict[Path, str]:
    processes = read_processes()
    return {
        BASE / "processes.yaml": dump(
            render_processes(processes), "Every nuanliu process: Deployments, Services, PDBs, HPAs."
        ),
        BASE / "network-policies.yaml": dump(
            render_policies(processes), "Default deny, then what each process may reach."
        ),
    }


def main() -> None:
    for path, text in outputs().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
