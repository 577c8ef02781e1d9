"""`agent-gateway agents install-deps` end to end, offline: wheels built by the test, installed
with ``--no-index --find-links`` into a throwaway environment layered over the repo's .venv
(tests/python_envs.py), by the gateway's own command run with that environment's interpreter;
and a gateway running in that environment that serves the agent once its requirements are in."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
import shlex
import subprocess
from pathlib import Path

import yaml

from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from tests.conftest import ADMIN_KEY, GATEWAY_ENV
from tests.gateway_process import REPO, GatewayProcess, refused_port
from tests.grpc_auth import authed_channel
from tests.python_envs import PythonEnv, build_wheel, make_env, pip_environment

AGENT = "from agents import Agent\nagent = Agent(name={name!r}, instructions='Hi.')\n"
PYDANTIC = importlib.metadata.version("pydantic")


def agents_dir(root: Path, requirements: dict[str, str]) -> Path:
    for name, text in requirements.items():
        (root / name).mkdir(parents=True)
        (root / name / "agent.py").write_text(AGENT.format(name=name))
        (root / name / "requirements.txt").write_text(text)
    return root


def install_deps(env: PythonEnv, agents: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return env.gateway_cli("agents", "install-deps", "--agents-dir", str(agents), *args)


def offline(wheels: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(wheels))


def docs_block(page: str, heading: str, language: str, index: int = 0) -> str:
    section = (REPO / "docs" / page).read_text().split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)[index]


def test_an_agent_never_changes_the_gateways_packages(tmp_path: Path) -> None:
    env = make_env(tmp_path / "env")
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "agentdeps-greeting", "1.0")
    build_wheel(wheels, "agentdeps-greeting", "2.0")
    build_wheel(wheels, "pydantic", "1.0")  # what an agent asking for pydantic<2 would get, were it not pinned
    build_wheel(wheels, "agentdeps-legacy", "1.0", requires=["pydantic<2"])
    agents = agents_dir(
        tmp_path / "agents",
        {
            "Legacy": "pydantic<2\n",
            "Trans": "agentdeps-legacy\n",
            "Old": "agentdeps-greeting<2\n",
            "New": "agentdeps-greeting>=2\n",
        },
    )

    dry = install_deps(env, agents, "--agent", "default/old", "--dry-run", *offline(wheels))
    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout.splitlines()[-1] == "would install: agentdeps-greeting 1.0"
    assert env.installed() == set()

    direct = install_deps(env, agents, "--agent", "Legacy", *offline(wheels))
    assert direct.returncode == 3, direct.stderr
    # The message operations.md shows, to the letter.
    assert direct.stderr == docs_block("operations.md", "## Agent dependencies", "text").replace("2.14.4", PYDANTIC)
    transitive = install_deps(env, agents, "--agent", "default/trans", *offline(wheels))
    assert transitive.returncode == 3, transitive.stderr
    assert "  agentdeps-legacy 1.0, required by default/trans (Trans/requirements.txt:1), depends on pydantic<2\n" in transitive.stderr
    assert f"  pydantic=={PYDANTIC}: the gateway runs on pydantic {PYDANTIC} (every package it depends on is pinned)\n" in transitive.stderr
    assert env.installed() == set()  # nothing, not even agentdeps-legacy
    seen = env.run("-c", "import pydantic, sys; sys.stdout.write(pydantic.VERSION + ' ' + pydantic.__file__)").stdout.split()
    assert seen[0] == PYDANTIC and not seen[1].startswith(str(env.root))  # still the gateway's own

    old = install_deps(env, agents, "--agent", "default/old", *offline(wheels))
    assert old.returncode == 0, old.stderr
    assert "installed: agentdeps-greeting 1.0\n" in old.stdout and "requirements met: default/old." in old.stdout
    assert env.installed() == {"agentdeps_greeting"}
    # A working agent's requirements are kept too: New may not upgrade what Old runs on.
    new = install_deps(env, agents, "--agent", "default/new", *offline(wheels))
    assert new.returncode == 3, new.stderr
    assert "  agentdeps-greeting>=2: required by default/new (New/requirements.txt:1)\n" in new.stderr
    assert "  agentdeps-greeting<2: kept for default/old (Old/requirements.txt:1), whose requirements are met now\n" in new.stderr
    assert env.run("-c", "import importlib.metadata as m; print(m.version('agentdeps-greeting'))").stdout.strip() == "1.0"


def test_a_failed_pip_is_exit_1_and_prints_no_credentials(tmp_path: Path) -> None:
    env = make_env(tmp_path / "env")
    agents = agents_dir(tmp_path / "agents", {"Nowhere": "agentdeps-nowhere>=1\n"})
    # An index that refuses connections, with credentials in its URL: pip finds nothing there.
    index = f"http://tok-user:s3cr3t-pass@127.0.0.1:{refused_port()}/simple"
    failed = install_deps(env, agents, "--agent", "default/nowhere", "--index-url", index, "--retries", "0", "--timeout", "2")
    assert failed.returncode == 1, failed.stderr
    assert "agent-gateway: pip install failed (exit 1):\n" in failed.stderr and "No matching distribution found for agentdeps-nowhere" in failed.stderr
    assert "tok-user" not in failed.stdout + failed.stderr and "s3cr3t" not in failed.stdout + failed.stderr
    assert env.installed() == set()


async def agent_state(address: str) -> tuple[dict[str, str], dict[str, reg_pb.Diagnostic]]:
    async with authed_channel(address, ADMIN_KEY) as channel:
        stub = reg_grpc.RegistryServiceStub(channel)
        agents = {a.id: a.description for a in (await stub.ListAgents(reg_pb.ListAgentsRequest(page_size=100))).agents}
        diagnostics = {d.agent_id: d for d in (await stub.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics}
    return agents, diagnostics


async def wait_for_agent(address: str, agent_id: str) -> dict[str, str]:
    agents: dict[str, str] = {}
    for _ in range(150):
        agents, _ = await agent_state(address)
        if agent_id in agents:
            return agents
        await asyncio.sleep(0.1)
    raise AssertionError(f"{agent_id} not served: {agents}")


def docs_refresh(gateway: GatewayProcess) -> dict[str, int]:
    """operations.md's RefreshAgents command, against ``gateway``."""
    (refresh,) = [line for line in docs_block("operations.md", "## Agent dependencies", "sh", 1).splitlines() if line.strip()]
    argv = shlex.split(refresh.replace("$AGW_KEY", ADMIN_KEY).replace("localhost:50051", gateway.grpc_address))
    assert argv[0] == ".venv/bin/grpcurl"
    refreshed = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert refreshed.returncode == 0, refreshed.stderr
    return dict(json.loads(refreshed.stdout))


async def test_the_docs_commands_and_a_watching_gateway_that_serves_the_agent_once_installed(tmp_path: Path) -> None:
    env = make_env(tmp_path / "env")
    project = tmp_path / "project"
    # Stand-ins for the packages the docs name, built here: nothing comes from an index.
    build_wheel(project / "wheels", "pypdf", "4.2.0")
    build_wheel(project / "wheels", "openpyxl", "3.1.5")
    agents = project / "agents"
    (agents / "Invoices").mkdir(parents=True)
    (agents / "Invoices" / "requirements.txt").write_text(docs_block("agents.md", "## Requirements: `requirements.txt`", "text"))
    (agents / "Invoices" / "agent.py").write_text(
        "import pypdf\nfrom agents import Agent\n\n__gateway__ = {'description': f'Reads invoices with pypdf {pypdf.__version__}'}\n"
        "agent = Agent(name='Invoices', instructions='Read invoices.')\n"
    )
    (agents / "Reports").mkdir()
    (agents / "Reports" / "requirements.txt").write_text("openpyxl>=3.1\n")
    (agents / "Reports" / "agent.py").write_text("import openpyxl\n" + AGENT.format(name="Reports"))
    config = tmp_path / "config"
    config.mkdir()
    (config / "security.yaml").write_text(yaml.safe_dump({"api_keys": [{"id": "admin", "env": "GW_KEY_ADMIN", "roles": ["admin"], "models": ["*"]}]}))
    gateway = GatewayProcess(agents, config, tmp_path / "gw.log", python=env.python, env_extra={**GATEWAY_ENV, "GATEWAY_AGENT_WATCH": "1"}).start()
    try:
        served, diagnostics = await agent_state(gateway.grpc_address)
        assert set(served) == set() and set(diagnostics) == {"default/invoices", "default/reports"}
        invoices = diagnostics["default/invoices"]
        assert (invoices.stage, invoices.error_type) == (reg_pb.DIAGNOSTIC_STAGE_IMPORT, "RequirementsNotMet")
        # The diagnostic agents.md shows (its two lines are one message), for this agents folder.
        shown = docs_block("agents.md", "## Requirements: `requirements.txt`", "text", 1).strip().replace("\n", " ")
        assert invoices.message == shown.replace("/srv/gateway/agents", str(agents))

        # The commands of operations.md, as written, from the project folder; pip's environment
        # keeps them offline (the first two name no index options).
        commands = [shlex.split(line, comments=True) for line in docs_block("operations.md", "## Agent dependencies", "sh").splitlines()]
        assert [c[:3] for c in commands] == [["agent-gateway", "agents", "install-deps"]] * 3
        pip_env = pip_environment(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(project / "wheels"))
        dry_run = env.gateway_cli(*commands[0][1:], cwd=project, env=pip_env)
        assert dry_run.returncode == 0, dry_run.stderr
        assert re.fullmatch(r"would install: (openpyxl 3\.1\.5, pypdf 4\.2\.0|pypdf 4\.2\.0, openpyxl 3\.1\.5)", dry_run.stdout.splitlines()[-1])
        assert env.installed() == set()

        one_agent = env.gateway_cli(*commands[1][1:], cwd=project, env=pip_env)
        assert one_agent.returncode == 0, one_agent.stderr
        assert "installed: pypdf 4.2.0\n" in one_agent.stdout
        served = await wait_for_agent(gateway.grpc_address, "default/invoices")  # no restart, no RefreshAgents
        assert served["default/invoices"] == "Reads invoices with pypdf 4.2.0"  # agent.py imported the package
        assert "default/reports" not in served

        the_rest = env.gateway_cli(*commands[2][1:], cwd=project, env=pip_environment())
        assert the_rest.returncode == 0, the_rest.stderr
        assert "installing the requirements of default/reports with pip" in the_rest.stdout and "installed: openpyxl 3.1.5\n" in the_rest.stdout
        await wait_for_agent(gateway.grpc_address, "default/reports")
        assert (await agent_state(gateway.grpc_address))[1] == {}
        assert '"msg": "hot reload: packages installed"' in gateway.log_text()
        assert docs_refresh(gateway) == {"agent_count": 2}  # what an operator without watching runs: the same state
    finally:
        assert gateway.terminate() == 0
