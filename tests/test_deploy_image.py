"""The container image's files: the Dockerfile passes hadolint and keeps its structure (two
stages, nothing but the virtualenv and the app in the final one, non-root, a HEALTHCHECK, the
CLI as entrypoint), the build context holds what the Dockerfile copies, and the image's
health check (deploy/healthcheck.py) tells a serving gateway from one that is not.

No Docker daemon is needed: `make image` builds the image where there is one."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.gateway_process import REPO, GatewayProcess, make_agents_dir, refused_port

DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions():
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not in exec form: {args}"
    return value


def test_hadolint_passes_with_no_finding_at_all() -> None:
    # style is hadolint's lowest severity: any finding fails.
    done = subprocess.run([str(HADOLINT), "--failure-threshold", "style", "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_is_the_linter_it_claims_to_be(tmp_path: Path) -> None:
    # The check above means something only if hadolint fails a bad Dockerfile.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    done = subprocess.run([str(HADOLINT), "--failure-threshold", "style", "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_two_stages_from_one_pinned_base_image() -> None:
    instructions = _instructions()
    args = dict(a.split("=", 1) for w, a in instructions if w == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    # A full version tag on a named Debian release: never latest, never a moving minor tag.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    builder, final = _stages()
    assert builder[0][1] == "${PYTHON_IMAGE} AS builder"
    assert final[0][1] == "${PYTHON_IMAGE}", "the venv's python links to the base image's interpreter: both stages must use the same"


def test_the_builder_installs_the_package_with_the_fast_extra_into_a_venv() -> None:
    builder, _ = _stages()
    runs = [a for w, a in builder if w == "RUN"]
    assert "python -m venv /opt/venv" in runs
    assert '/opt/venv/bin/pip install ".[fast]"' in runs
    assert any(r.startswith("/opt/venv/bin/agent-gateway agents install-deps") for r in runs)
    # Every package pyproject.toml ships is copied into the builder.
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {a.split()[0] for w, a in builder if w == "COPY"}
    assert {pattern.rstrip("*") for pattern in include} <= copied


def test_the_final_stage_copies_the_venv_and_app_and_builds_nothing() -> None:
    _, final = _stages()
    runs = " ".join(a for w, a in final if w == "RUN")
    for tool in ("apt-get", "pip", "gcc", "build-essential", "curl", "wget"):
        assert not re.search(rf"\b{tool}\b", runs), f"the final stage runs {tool}"
    copies = [a for w, a in final if w == "COPY"]
    assert "--from=builder /opt/venv /opt/venv" in copies
    assert "--from=builder /app/agents /app/agents" in copies
    assert "config /app/config" in copies


def test_final_stage_runs_the_cli_as_a_non_root_user_on_all_interfaces() -> None:
    _, final = _stages()
    by_word: dict[str, list[str]] = {}
    for word, args in final:
        by_word.setdefault(word, []).append(args)
    assert by_word["USER"] == ["10001:10001"]  # numeric: runAsNonRoot can check it
    assert _exec_form(by_word["ENTRYPOINT"][-1]) == ["agent-gateway"]
    assert _exec_form(by_word["CMD"][-1]) == ["serve"]
    env = " ".join(by_word["ENV"])
    for setting in (
        "GATEWAY_HOST=0.0.0.0",
        "GATEWAY_AGENT_DISCOVERY_PATH=/app/agents",
        "GATEWAY_CONFIG_DIR=/app/config",
        "GATEWAY_DATA_DIR=/data",
        "PATH=/opt/venv/bin:$PATH",
    ):
        assert setting in env
    assert _exec_form(by_word["VOLUME"][-1]) == ["/data"]
    assert set(" ".join(by_word["EXPOSE"]).split()) == {"8000", "50051"}
    (healthcheck,) = by_word["HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["python", "/app/healthcheck.py"]')
    assert "COPY deploy/healthcheck.py /app/healthcheck.py" in [f"COPY {a}" for a in by_word["COPY"]]


def _dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern decides (a ! pattern re-includes)."""
    allowed = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/").removeprefix("**/")
        parts = Path(path).parts
        hit = any(fnmatch("/".join(parts[: i + 1]), pattern) or fnmatch(parts[i], pattern) for i in range(len(parts)))
        if hit:
            allowed = negate
    return allowed


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_more() -> None:
    sources = []
    for word, args in _instructions():
        if word == "COPY" and "--from=" not in args:
            sources += shlex.split(args)[:-1]
    for source in sources:
        assert (REPO / source).exists(), source
        assert _dockerignore_allows(source), f".dockerignore keeps {source} out of the build context"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    sent = {name for name in tracked if _dockerignore_allows(name)}
    assert "services/server.py" in sent and "agents/Weather/agent.py" in sent
    assert not {n for n in sent if n.startswith(("tests/", "bench/", ".venv/", "docs/", ".git"))}
    # A developer's own config/security.yaml or upstreams.yaml never ends up in an image.
    assert not _dockerignore_allows("config/security.yaml") and not _dockerignore_allows("config/upstreams.yaml")
    assert not _dockerignore_allows("services/__pycache__/server.cpython-311.pyc")


def _healthcheck(env: dict[str, str]) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run([sys.executable, str(REPO / "deploy" / "healthcheck.py")], env={**clean, **env}, timeout=30).returncode


@pytest.mark.timeout(120)
def test_the_image_healthcheck_tells_serving_from_not(tmp_path: Path) -> None:
    from tests.conftest import GATEWAY_ENV

    config = tmp_path / "config"
    config.mkdir()
    (config / "security.yaml").write_text("api_keys:\n  - id: admin\n    env: GW_KEY_ADMIN\n    roles: [admin]\n    models: ['*']\n")
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), config, tmp_path / "gateway.log", env_extra=GATEWAY_ENV).start()
    try:
        # As the image runs it: GATEWAY_HOST=0.0.0.0 is asked on loopback.
        assert _healthcheck({"GATEWAY_HOST": "0.0.0.0", "GATEWAY_HTTP_PORT": str(gateway.http_port)}) == 0
        # A gRPC-only process is asked over grpc.health.v1.
        backend = {"GATEWAY_SERVICES": "registry,executor,tools,security", "GATEWAY_GRPC_PORT": str(gateway.grpc_port)}
        assert _healthcheck(backend) == 0
        assert _healthcheck({"GATEWAY_HTTP_PORT": str(refused_port())}) == 1
        assert _healthcheck({**backend, "GATEWAY_GRPC_PORT": str(refused_port())}) == 1
    finally:
        assert gateway.terminate() == 0
