"""deploy/compose.yaml: valid by the Compose specification (compose-spec: unknown keys, bad
durations and conditions fail), and the gateway wired to Redis and the demo model: started
after both are healthy, every service with a health check, the image's security settings kept."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from tests.gateway_process import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_valid_by_the_compose_spec() -> None:
    parsed = PyCompose.from_yaml(COMPOSE.read_text())
    parsed.validate()  # every volume, network, secret a service names is defined
    assert set(parsed.service_names()) == {"gateway", "redis", "demo-model"}


def test_the_validator_rejects_a_misspelt_key() -> None:
    with pytest.raises(ValueError, match="healtcheck"):
        PyCompose.from_yaml(COMPOSE.read_text().replace("healthcheck:", "healtcheck:", 1))


def test_every_service_has_a_health_check_and_the_gateway_waits_for_its_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name  # exec form: no shell needed in the image
    assert services["gateway"]["depends_on"] == {"redis": {"condition": "service_healthy"}, "demo-model": {"condition": "service_healthy"}}
    assert services["gateway"]["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py"]


def test_the_gateway_uses_redis_and_the_demo_model(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["gateway"]["environment"]
    assert env["GATEWAY_STATE_URL"] == "redis://redis:6379/0"
    assert env["OPENAI_BASE_URL"] == "http://demo-model:8100/v1" and env["GATEWAY_DEFAULT_MODEL"] == "demo"
    assert services["demo-model"]["command"] == ["demo-model", "--host", "0.0.0.0", "--port", "8100"]
    assert services["gateway"]["command"] == ["serve"]
    # One image for both, built from the repository's Dockerfile.
    for name in ("gateway", "demo-model"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert services[name]["image"] == "agent-gateway:dev"
        assert (COMPOSE.parent / services[name]["build"]["context"] / "Dockerfile").is_file()


def test_mounts_exist_and_ports_stay_on_this_machine(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    named = set(compose["volumes"])
    targets = {}
    for volume in gateway["volumes"]:
        source, target, *mode = volume.split(":")
        targets[target] = source
        if source not in named:
            assert (COMPOSE.parent / source).exists(), source
            assert mode == ["ro"], f"{source} is mounted read-only"
    assert {"/app/agents", "/app/config", "/data"} <= set(targets)
    assert targets[gateway["environment"]["GATEWAY_SECURITY_CONFIG"]] == "./k8s/config/security.yaml"
    # The admin key has a local-only default: nothing is published beyond loopback.
    assert all(port.startswith("127.0.0.1:") for port in gateway["ports"])
    assert gateway["read_only"] is True and gateway["tmpfs"] == ["/tmp"]


def test_the_stop_grace_covers_the_drain(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    grace = float(gateway["environment"]["GATEWAY_SHUTDOWN_GRACE_S"])
    stop = gateway["stop_grace_period"]
    assert stop.endswith("s") and float(stop[:-1]) >= 2 * grace + 5


def test_the_one_command_is_documented(compose: dict[str, Any]) -> None:
    command = "docker compose -f deploy/compose.yaml up"
    assert command in COMPOSE.read_text()
    assert command in (REPO / "docs" / "deployment.md").read_text()
