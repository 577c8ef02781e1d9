"""An agent's requirements.txt: the file format, what counts as satisfied, the gateway's pins,
and what the registry does with an agent whose requirements are not met."""

from __future__ import annotations

import importlib.metadata
import io
import textwrap
from pathlib import Path, PurePosixPath

import pytest

from services.cli import main
from services.registry.catalog import AgentCatalog
from services.registry.install_deps import install_deps
from services.registry.requirements import RequirementsFileError, gateway_pins, read_requirements, unmet_requirements
from tests.python_envs import write_dist_info

AGENT = "from agents import Agent\nagent = Agent(name='Needy', instructions='Hi.')\n"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path where tests "install" distributions (their metadata)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    return folder


def test_the_common_subset_of_the_format(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "Agent",
        {
            "requirements.txt": r"""
                # what agent.py needs

                pypdf>=4.0  # inline comment
                tomli>=2; python_version < "3.11"
                httpx[http2] \
                    >=0.27
                -r extra.txt
                --requirement=more/other.txt
                tool @ https://user:s3cret@files.example/tool-1.0.whl?token=abc
                """,
            "extra.txt": "pyyaml>=5\n",
            "more/other.txt": "orjson\n",
        },
    )
    lines = read_requirements(folder / "requirements.txt", folder)
    assert [(line.source, str(line.requirement).split(" @ ")[0]) for line in lines] == [
        ("requirements.txt:3", "pypdf>=4.0"),
        ("requirements.txt:4", 'tomli>=2; python_version < "3.11"'),
        ("requirements.txt:5", "httpx[http2]>=0.27"),
        ("extra.txt:1", "pyyaml>=5"),
        ("more/other.txt:1", "orjson"),
        ("requirements.txt:9", "tool"),
    ]
    assert [line.applies for line in lines] == [True, False, True, True, True, True]  # this suite runs on 3.11+


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-e ./vendored\n", "requirements.txt:1: -e: editable installs are not supported"),
        ("pypdf\n--index-url https://pypi.internal/simple\n", "requirements.txt:2: --index-url: pip options are not read from an agent's requirements.txt"),
        ("-i https://pypi.internal/simple\n", "requirements.txt:1: -i: pip options are not read"),
        ("--find-links=./wheels\n", "requirements.txt:1: --find-links: pip options are not read"),
        ("-c constraints.txt\n", "requirements.txt:1: -c: constraint files are not read here"),
        ("pypdf==4.2.0 --hash=sha256:0123\n", "requirements.txt:1: --hash: per-requirement options are not supported"),
        ("./vendored/pkg\n", "requirements.txt:1: not a requirement: "),
        ("https://files.example/pkg-1.0.whl\n", "(a path or URL needs a name: `name @ https://...`)"),
        ("pypdf >= \n", "requirements.txt:1: not a requirement: "),
        ("-r ../outside.txt\n", "requirements.txt:1: -r ../outside.txt: included files must be inside the agent's folder"),
        ("-r missing.txt\n", "missing.txt: cannot read it: No such file or directory"),
        ("-r loop.txt\n", "loop.txt: includes requirements.txt, which includes it again"),
    ],
)
def test_what_the_gateway_does_not_support_is_refused_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    folder = write(tmp_path / "Agent", {"requirements.txt": text, "loop.txt": "-r requirements.txt\n"})
    (tmp_path / "outside.txt").write_text("pypdf\n")
    with pytest.raises(RequirementsFileError) as raised:
        read_requirements(folder / "requirements.txt", folder)
    assert expected in str(raised.value)


def test_satisfied_means_installed_at_an_allowed_version_with_the_extras(tmp_path: Path, site: Path) -> None:
    write_dist_info(site, "agentdeps-probe", "1.5", requires=['agentdeps-probe-extra>=2; extra == "more"'], extras=["more"])
    write_dist_info(site, "agentdeps-beta", "2.0b1")
    folder = write(
        tmp_path / "Agent",
        {
            "requirements.txt": """
                agentdeps-probe>=1.0,<2
                agentdeps_Probe~=1.5
                agentdeps-beta>=2.0b1
                agentdeps-probe>=2
                agentdeps-absent
                agentdeps-absent-elsewhere; sys_platform == "no-such-platform"
                agentdeps-probe[more]
                """
        },
    )
    unmet = unmet_requirements(read_requirements(folder / "requirements.txt", folder))
    assert [str(u) for u in unmet] == [
        "agentdeps-probe>=2 (requirements.txt:4: agentdeps-probe 1.5 is installed)",
        "agentdeps-absent (requirements.txt:5: agentdeps-absent is not installed)",
        "agentdeps-probe[more], which needs agentdeps-probe-extra>=2 (requirements.txt:7: agentdeps-probe-extra is not installed)",
    ]
    write_dist_info(site, "agentdeps-probe-extra", "2.1")
    assert len(unmet_requirements(read_requirements(folder / "requirements.txt", folder))) == 2


def test_the_gateway_pins_everything_it_runs_on_at_the_installed_version() -> None:
    pins = gateway_pins()
    for name in ("agent-gateway", "pydantic", "pydantic-core", "grpcio", "openai-agents", "packaging", "uvloop", "pytest"):
        assert pins[name].version == importlib.metadata.version(name), name  # direct, transitive, extras
    assert str(pins["pydantic"]) == f"pydantic=={importlib.metadata.version('pydantic')}"
    assert "pip" not in pins  # in the environment, but nothing the gateway needs


async def test_an_agent_whose_requirements_are_unmet_is_not_imported_until_they_are(tmp_path: Path, site: Path) -> None:
    marker = tmp_path / "imported"
    agents_dir = tmp_path / "agents"
    write(
        agents_dir,
        {
            "Needy/agent.py": f"open({str(marker)!r}, 'a').close()\nimport agentdeps_probe\n{AGENT}",
            "Needy/requirements.txt": "agentdeps-probe>=1.0\ntool @ https://user:s3cret@files.example/tool.whl?token=abc\n",
            "Plain/agent.py": AGENT,
        },
    )
    catalog = AgentCatalog(agents_dir, None)
    await catalog.refresh()
    assert [e.id for e in catalog.list()] == ["default/plain"]
    (diagnostic,) = catalog.diagnostics
    assert (diagnostic.path, diagnostic.agent_id, diagnostic.stage, diagnostic.error_type) == (
        "Needy/agent.py",
        "default/needy",
        "import",
        "RequirementsNotMet",
    )
    assert diagnostic.message == (
        "requirements.txt is not satisfied, so agent.py was not imported: "
        "agentdeps-probe>=1.0 (requirements.txt:1: agentdeps-probe is not installed); "
        "tool @ https://files.example/tool.whl (requirements.txt:2: tool is not installed). "
        f"Install them with: agent-gateway agents install-deps --agent default/needy --agents-dir {agents_dir}"
    )
    assert "s3cret" not in diagnostic.message and "token" not in diagnostic.message
    assert not marker.exists()

    # What pip would leave behind: the metadata (checked) and the module (imported).
    write_dist_info(site, "agentdeps-probe", "1.0")
    write_dist_info(site, "tool", "1.0")
    (site / "agentdeps_probe.py").write_text("")
    await catalog.refresh()  # RefreshAgents, or the hot-reload watcher
    assert [e.id for e in catalog.list()] == ["default/needy", "default/plain"] and catalog.diagnostics == []
    assert marker.exists()


async def test_a_requirement_on_another_version_of_a_gateway_package_says_to_relax_it(tmp_path: Path) -> None:
    agents_dir = write(tmp_path / "agents", {"Legacy/agent.py": AGENT, "Legacy/requirements.txt": "pydantic<2\nagentdeps-absent\n"})
    catalog = AgentCatalog(agents_dir, None)
    await catalog.refresh()
    (diagnostic,) = catalog.diagnostics
    version = importlib.metadata.version("pydantic")
    assert f"pydantic<2 (requirements.txt:1: the gateway runs pydantic {version} and an agent cannot change it)" in diagnostic.message
    assert "Relax pydantic<2: the gateway's own packages stay at the versions it runs on." in diagnostic.message
    assert diagnostic.message.endswith(f"Install the others with: agent-gateway agents install-deps --agent default/legacy --agents-dir {agents_dir}")


async def test_an_unsupported_requirements_file_is_a_discover_diagnostic_and_no_import(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    agents_dir = write(
        tmp_path / "agents", {"Odd/agent.py": f"open({str(marker)!r}, 'a').close()\n{AGENT}", "Odd/requirements.txt": "--extra-index-url https://x.example\n"}
    )
    catalog = AgentCatalog(agents_dir, None)
    await catalog.refresh()
    (diagnostic,) = catalog.diagnostics
    assert (diagnostic.stage, diagnostic.error_type, diagnostic.agent_id) == ("discover", "InvalidRequirements", "default/odd")
    assert diagnostic.message.startswith("requirements.txt:1: --extra-index-url: pip options are not read from an agent's requirements.txt")
    assert catalog.list() == [] and not marker.exists()


async def test_satisfied_requirements_change_nothing(tmp_path: Path) -> None:
    agents_dir = write(tmp_path / "agents", {"Fine/agent.py": AGENT, "Fine/requirements.txt": "pydantic>=2\nhttpx\n# nothing else\n"})
    catalog = AgentCatalog(agents_dir, None)
    await catalog.refresh()
    assert [e.id for e in catalog.list()] == ["default/fine"] and catalog.diagnostics == []


def test_relative_paths_resolve_from_the_including_file(tmp_path: Path) -> None:
    folder = write(tmp_path / "Agent", {"requirements.txt": "-r reqs/base.txt\n", "reqs/base.txt": "-r more.txt\n", "reqs/more.txt": "pypdf\n"})
    (line,) = read_requirements(folder / "requirements.txt", folder)
    assert line.source == "reqs/more.txt:1"
    assert PurePosixPath(line.source.split(":")[0]).parts == ("reqs", "more.txt")


def test_install_deps_refuses_bad_input_before_running_pip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agents_dir = write(
        tmp_path / "agents",
        {
            "Odd/agent.py": AGENT,
            "Odd/requirements.txt": "pypdf\n-e ./vendored\n",
            "Fine/agent.py": AGENT,
            "Fine/requirements.txt": "pydantic>=2\n",
            "Plain/agent.py": AGENT,
        },
    )

    def run(agent: str | None, folder: Path = agents_dir) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return install_deps(folder, agent, pip_options=("--no-index",), out=out, err=err), out.getvalue(), err.getvalue()

    assert run("default/odd") == (
        2,
        "",
        "agent-gateway: default/odd: Odd/requirements.txt:2: -e: editable installs are not supported: "
        "install the package yourself or name it with `name @ file:///path`\n",
    )
    code, out, err = run("default/nope")
    assert (code, out) == (2, "")
    assert (
        err == f"agent-gateway: no agent 'default/nope' in {agents_dir} (agents there: default/fine, default/odd, default/plain; use the id its folder gives)\n"
    )
    assert run("Fine") == (0, "the requirements of default/fine are met: nothing to install\n", "")
    assert run("plain") == (0, "no requirements.txt beside that agent: nothing to install\n", "")
    assert run(None) == (
        2,
        "",
        "agent-gateway: default/odd: Odd/requirements.txt:2: -e: editable installs are not supported: install the package yourself or name it with `name @ file:///path`\n",
    )
    code, _, err = run(None, tmp_path / "elsewhere")
    assert code == 2 and err == f"agent-gateway: agents folder {tmp_path / 'elsewhere'} not found (--agents-dir, GATEWAY_AGENT_DISCOVERY_PATH)\n"
    # pip options that would install elsewhere or skip the resolver are not offered.
    for option in ("--target", "--user", "--no-deps", "--force-reinstall"):
        with pytest.raises(SystemExit) as exited:
            main(["agents", "install-deps", "--agents-dir", str(agents_dir), option])
        assert exited.value.code == 2 and f"unrecognized arguments: {option}" in capsys.readouterr().err
