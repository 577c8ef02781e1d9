"""Agent catalogue: model ids, drop-in discovery and loading, diagnostics, declarative agents."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path, PurePosixPath
from typing import Any

import agents
import pytest
from agents import Agent, Runner, trace
from agents.exceptions import InputGuardrailTripwireTriggered
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from services.model_ids import MODEL_ID_PATTERN, model_id_for, namespace_of
from services.registry.catalog import AgentCatalog, AgentEntry, Diagnostic

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


async def load(root: Path, config: Path | None = None, **kwargs: Any) -> AgentCatalog:
    catalog = AgentCatalog(root, config, **kwargs)
    await catalog.refresh()
    return catalog


def only_diagnostic(catalog: AgentCatalog, path: str) -> Diagnostic:
    found = [d for d in catalog.diagnostics if d.path == path]
    assert len(found) == 1, catalog.diagnostics
    return found[0]


def private_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith("_gateway_agents.")}


AGENT = """
    from agents import Agent
    agent = Agent(name={name!r}, instructions={instructions!r})
"""


def agent_source(name: str, instructions: str = "Be helpful.") -> str:
    return textwrap.dedent(AGENT.format(name=name, instructions=instructions)).lstrip()


class ScriptedModel(Model):
    """A Model that replays canned responses and records what it was sent."""

    def __init__(self, outputs: list[list[Any]]) -> None:
        self.outputs = list(outputs)
        self.inputs: list[Any] = []

    async def get_response(
        self, system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, *, previous_response_id, conversation_id, prompt
    ):  # type: ignore[override]
        self.inputs.append(input)
        return ModelResponse(output=self.outputs.pop(0), usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        raise NotImplementedError


def text_message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="msg_1",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


# --------------------------------------------------------------------------- model ids


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("Weather/agent.py", "default/weather"),
        ("Weather", "default/weather"),
        ("labs/Planner/agent.py", "labs/planner"),
        ("a/b/C/agent.py", "a/b/c"),
        ("My Agent!/agent.py", "default/my-agent-"),
        ("Sales Team/Lead Scorer v2/agent.py", "sales-team/lead-scorer-v2"),
        ("Ünïcode/agent.py", "default/-n-code"),
        ("keep.dots_and-dashes/agent.py", "default/keep.dots_and-dashes"),
    ],
)
def test_model_id_for(relative: str, expected: str) -> None:
    assert model_id_for(PurePosixPath(relative)) == expected
    assert re.fullmatch(MODEL_ID_PATTERN, expected)


@pytest.mark.parametrize("relative", ["agent.py", "/abs/Weather/agent.py", "../Weather/agent.py", "."])
def test_model_id_for_rejects_paths_outside_a_folder(relative: str) -> None:
    with pytest.raises(ValueError):
        model_id_for(PurePosixPath(relative))


def test_namespace_of() -> None:
    assert namespace_of("default/weather") == "default"
    assert namespace_of("labs/planner") == "labs"
    assert namespace_of("a/b/c") == "a/b"
    assert namespace_of("planner") == "default"
    assert not re.fullmatch(MODEL_ID_PATTERN, "Default/Weather")
    assert not re.fullmatch(MODEL_ID_PATTERN, "a//b")


# --------------------------------------------------------------------------- export kinds


async def test_each_export_kind(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Instance/agent.py": agent_source("Instance", "Answers things.\nSecond line."),
            "SyncFactory/agent.py": """
            import threading
            from agents import Agent
            def build_agent():
                return Agent(name="built in " + threading.current_thread().name, handoff_description="Built.")
        """,
            "AsyncFactory/agent.py": """
            import threading
            from agents import Agent
            async def create_agent():
                return Agent(name="built in " + threading.current_thread().name)
        """,
            "ns/Flow/agent.py": '''
            """Runs a workflow.

            More text.
            """
            from pydantic import BaseModel
            class WorkflowInput(BaseModel):
                input_as_text: str
            async def run_workflow(workflow_input: WorkflowInput):
                return {"output_text": workflow_input.input_as_text.upper()}
        ''',
        },
    )
    catalog = await load(tmp_path)
    assert catalog.diagnostics == []
    assert [e.id for e in catalog.list()] == ["default/asyncfactory", "default/instance", "default/syncfactory", "ns/flow"]

    instance = catalog.get("default/instance")
    assert instance is not None and instance.export_kind == "agent" and instance.source == "drop_in"
    assert isinstance(instance.agent, Agent) and instance.agent_name == "Instance"
    assert instance.description == "Answers things."
    assert instance.path == "Instance/agent.py" and instance.workflow is None

    loop_thread = threading.current_thread().name
    sync = catalog.get("default/syncfactory")
    assert sync is not None and sync.export_kind == "factory" and sync.description == "Built."
    assert sync.agent_name != f"built in {loop_thread}"  # sync factories run in the worker thread

    async_ = catalog.get("default/asyncfactory")
    assert async_ is not None and async_.export_kind == "factory" and isinstance(async_.agent, Agent)
    assert async_.agent_name == f"built in {loop_thread}"  # awaited on the event loop
    assert async_.description == ""

    flow = catalog.get("ns/flow")
    assert flow is not None and flow.export_kind == "workflow" and flow.agent is None
    assert flow.agent_name == "ns/flow" and flow.description == "Runs a workflow."
    assert flow.workflow is not None
    workflow_input = flow.workflow.__globals__["WorkflowInput"](input_as_text="hi")
    assert await flow.workflow(workflow_input) == {"output_text": "HI"}


async def test_custom_export_order(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Both/agent.py": """
            from agents import Agent
            agent = Agent(name="from-instance")
            def make_it():
                return Agent(name="from-factory")
        """,
        },
    )
    default = await load(tmp_path)
    assert default.get("default/both").agent_name == "from-instance"

    custom = await load(tmp_path, exports="make_it, agent")  # GATEWAY_AGENT_EXPORTS as written
    entry = custom.get("default/both")
    assert entry is not None and entry.export_kind == "factory" and entry.agent_name == "from-factory"

    missing = await load(tmp_path, exports=("nope", "neither"))
    assert missing.list() == []
    diagnostic = only_diagnostic(missing, "Both/agent.py")
    assert (diagnostic.stage, diagnostic.error_type) == ("export", "ExportNotFound")
    assert "nope" in diagnostic.message and "neither" in diagnostic.message


async def test_gateway_overrides_and_aliases(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Custom/agent.py": """
            from agents import Agent
            __gateway__ = {"id": "team/helper", "upstream": "local", "model": "llama3.2",
                           "description": "Overridden.", "aliases": ["helper", "team/helper"],
                           "timeout_s": 12.5, "max_turns": 3}
            agent = Agent(name="Helper", instructions="Ignored for the description.", model="gpt-4o")
        """,
            "BadKey/agent.py": """
            from agents import Agent
            __gateway__ = {"descripton": "typo"}
            agent = Agent(name="BadKey")
        """,
            "BadId/agent.py": """
            from agents import Agent
            __gateway__ = {"id": "Not A Valid Id"}
            agent = Agent(name="BadId")
        """,
        },
    )
    catalog = await load(tmp_path)
    entry = catalog.get("team/helper")
    assert entry is not None
    assert (entry.upstream, entry.upstream_model, entry.description) == ("local", "llama3.2", "Overridden.")
    assert entry.upstream_model == "llama3.2"  # the __gateway__ model, not the SDK agent's own
    assert entry.aliases == ("helper",)
    assert (entry.timeout_s, entry.max_turns) == (12.5, 3)
    assert catalog.get("helper") is entry and catalog.get("HELPER") is entry
    assert catalog.get("default/custom") is None
    assert [e.id for e in catalog.list()] == ["team/helper"]

    bad_key = only_diagnostic(catalog, "BadKey/agent.py")
    assert (bad_key.stage, bad_key.error_type, bad_key.agent_id) == ("register", "ValidationError", "default/badkey")
    assert "__gateway__.descripton" in bad_key.message
    bad_id = only_diagnostic(catalog, "BadId/agent.py")
    assert bad_id.stage == "register" and "__gateway__.id" in bad_id.message


# --------------------------------------------------------------------------- sibling modules


async def test_sibling_helpers_do_not_clash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unrelated = type(sys)("helpers")  # an unrelated top-level "helpers" already imported elsewhere
    monkeypatch.setitem(sys.modules, "helpers", unrelated)
    write_tree(
        tmp_path,
        {
            "One/helpers.py": "GREETING = 'one says hi'\n",
            "One/agent.py": """
            import os, sys
            sys.path.insert(0, os.path.dirname(__file__))  # a common habit; cleaned up after the load
            from agents import Agent
            from helpers import GREETING
            from . import helpers as relative_helpers
            agent = Agent(name="One", instructions=GREETING + " / " + relative_helpers.GREETING)
        """,
            "Two/helpers.py": "GREETING = 'two says hello'\n",
            "Two/lib/__init__.py": "",
            "Two/lib/text.py": "def shout(s):\n    return s.upper()\n",
            "Two/agent.py": """
            from agents import Agent
            from helpers import GREETING
            from lib.text import shout
            agent = Agent(name="Two", instructions=shout(GREETING))
        """,
        },
    )
    path_before = list(sys.path)
    catalog = await load(tmp_path)
    assert catalog.diagnostics == []
    assert catalog.get("default/one").agent.instructions == "one says hi / one says hi"
    assert catalog.get("default/two").agent.instructions == "TWO SAYS HELLO"
    assert sys.path == path_before
    assert sys.modules["helpers"] is unrelated
    assert "lib" not in sys.modules and "lib.text" not in sys.modules
    moved = {name.split(".", 2)[2] for name in private_modules() if name.count(".") >= 2}
    assert {"helpers", "lib", "lib.text", "agent"} <= moved
    assert not any(name.startswith("agents.") and "Two" in name for name in sys.modules)


def test_import_agents_from_repo_root_is_the_sdk() -> None:
    assert not (REPO / "agents" / "__init__.py").exists()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", "import agents, sys; print(agents.__file__); print(hasattr(agents, 'Agent'))"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    file, has_agent = result.stdout.split()
    assert "site-packages" in Path(file).parts
    assert has_agent == "True"
    assert Path(agents.__file__).parent != REPO / "agents"


# --------------------------------------------------------------------------- diagnostics


BROKEN_TREE = {
    "Good/agent.py": agent_source("Good"),
    "ns/AlsoGood/agent.py": agent_source("AlsoGood"),
    "Syntax/agent.py": "from agents import Agent\nagent = Agent(name='x'\n",
    "Missing/agent.py": "import not_installed_pkg_xyz\n",
    "NoExport/agent.py": "value = 1\n",
    "WrongType/agent.py": "agent = 'not an agent'\n",
    "Raises/agent.py": """
        def boom():
            raise RuntimeError("cannot build the agent")
        def build_agent():
            return boom()
    """,
    "ReturnsNone/agent.py": "def get_agent():\n    return None\n",
    "TooManyArgs/agent.py": "async def run_workflow(a, b):\n    return a\n",
    "dup/agent.py": agent_source("First"),
    "dup-/agent.py": agent_source("Unrelated"),
    "zz/Dup/agent.py": 'from agents import Agent\n__gateway__ = {"id": "default/dup"}\nagent = Agent(name="Second")\n',
    "agent.py": agent_source("AtTheRoot"),
    "Stray/tool.py": "x = 1\n",
    ".hidden/agent.py": "raise SystemExit('never loaded')\n",
    "_private/agent.py": "raise SystemExit('never loaded')\n",
}


async def test_diagnostics_while_good_agents_still_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_tree(tmp_path, BROKEN_TREE)
    caplog.set_level(logging.WARNING, logger="agentgateway.registry")
    before = private_modules()
    catalog = await load(tmp_path)

    assert [e.id for e in catalog.list()] == ["default/dup", "default/dup-", "default/good", "ns/alsogood"]
    assert catalog.get("default/dup").agent_name == "First"

    expected = {
        "Syntax/agent.py": ("import", "SyntaxError", "default/syntax"),
        "Missing/agent.py": ("import", "ModuleNotFoundError", "default/missing"),
        "NoExport/agent.py": ("export", "ExportNotFound", "default/noexport"),
        "WrongType/agent.py": ("export", "InvalidExport", "default/wrongtype"),
        "Raises/agent.py": ("export", "RuntimeError", "default/raises"),
        "ReturnsNone/agent.py": ("export", "InvalidExport", "default/returnsnone"),
        "TooManyArgs/agent.py": ("export", "InvalidExport", "default/toomanyargs"),
        "zz/Dup/agent.py": ("register", "DuplicateModelId", "default/dup"),
        "agent.py": ("discover", "MisplacedAgentModule", ""),
        "Stray": ("discover", "NoAgentModule", "default/stray"),
    }
    got = {d.path: (d.stage, d.error_type, d.agent_id) for d in catalog.diagnostics}
    assert got == expected

    missing = only_diagnostic(catalog, "Missing/agent.py")
    assert "not_installed_pkg_xyz" in missing.message
    syntax = only_diagnostic(catalog, "Syntax/agent.py")
    assert "line" in syntax.message and "SyntaxError" in syntax.traceback
    raises = only_diagnostic(catalog, "Raises/agent.py")
    assert raises.message == "cannot build the agent"
    assert "in boom" in raises.traceback and "in build_agent" in raises.traceback
    assert "discovery.py" not in raises.traceback and len(raises.traceback) <= 2000
    no_export = only_diagnostic(catalog, "NoExport/agent.py")
    assert "no export found" in no_export.message and no_export.traceback == ""
    assert "str" in only_diagnostic(catalog, "WrongType/agent.py").message
    assert "NoneType" in only_diagnostic(catalog, "ReturnsNone/agent.py").message
    assert "dup/agent.py" in only_diagnostic(catalog, "zz/Dup/agent.py").message
    for diagnostic in catalog.diagnostics:
        assert diagnostic.time.tzinfo is UTC

    logged = [r for r in caplog.records if r.name == "agentgateway.registry" and r.levelno == logging.WARNING]
    assert {r.fields["path"] for r in logged} == set(expected)  # type: ignore[attr-defined]
    assert set(logged[0].fields) == {"path", "agent_id", "stage", "error_type", "message"}  # type: ignore[attr-defined]

    # Failed and duplicate loads leave nothing behind; served ones stay importable by private name.
    # Package + agent module of each loaded drop-in: the four served, and zz/Dup, whose id is
    # taken: it stays loaded, to be served as it is once the id is free.
    assert len(private_modules() - before) == 5 * 2


async def test_unreadable_entries_are_diagnostics(tmp_path: Path) -> None:
    write_tree(tmp_path, {"Good/agent.py": agent_source("Good")})
    (tmp_path / "Folder" / "agent.py").mkdir(parents=True)
    (tmp_path / "Dangling").mkdir()
    (tmp_path / "Dangling" / "agent.py").symlink_to(tmp_path / "does-not-exist.py")
    catalog = await load(tmp_path)
    assert [e.id for e in catalog.list()] == ["default/good"]
    got = {d.path: (d.stage, d.error_type, d.agent_id) for d in catalog.diagnostics}
    assert got == {
        "Folder/agent.py": ("discover", "IsADirectoryError", "default/folder"),
        "Dangling/agent.py": ("discover", "FileNotFoundError", "default/dangling"),
    }


async def test_long_tracebacks_are_clipped(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Deep/agent.py": """
        def recurse(n):
            if n == 0:
                raise ValueError("x" * 5000)
            return recurse(n - 1)
        recurse(50)
    """
        },
    )
    diagnostic = only_diagnostic(await load(tmp_path), "Deep/agent.py")
    assert diagnostic.error_type == "ValueError"
    assert len(diagnostic.traceback) <= 2000 and len(diagnostic.message) <= 1000
    assert diagnostic.traceback.count("in recurse") <= 5


async def test_missing_agents_dir_is_empty_not_an_error(tmp_path: Path) -> None:
    catalog = await load(tmp_path / "nope", tmp_path / "agents.yaml")
    assert catalog.list() == [] and catalog.diagnostics == []
    assert catalog.get("default/anything") is None


# --------------------------------------------------------------------------- policy


async def test_policy_hook_prevents_import(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    write_tree(
        tmp_path / "agents",
        {
            "Secret/agent.py": f"open({str(marker)!r}, 'w').close()\nfrom agents import Agent\nagent = Agent(name='S')\n",
            "Open/agent.py": agent_source("Open"),
            "Sneaky/agent.py": agent_source("Sneaky").replace("agent =", "__gateway__ = {'id': 'default/secret2'}\nagent ="),
        },
    )
    asked: list[str] = []

    def module_allowed(model_id: str) -> tuple[bool, str]:
        asked.append(model_id)
        return (not model_id.startswith("default/secret"), "modules.deny[0]=default/secret*")

    catalog = await load(tmp_path / "agents", module_allowed=module_allowed)
    assert [e.id for e in catalog.list()] == ["default/open"]
    assert not marker.exists()  # never imported
    secret = only_diagnostic(catalog, "Secret/agent.py")
    assert (secret.stage, secret.error_type, secret.agent_id) == ("policy", "PolicyDenied", "default/secret")
    assert "modules.deny[0]=default/secret*" in secret.message
    sneaky = only_diagnostic(catalog, "Sneaky/agent.py")
    assert (sneaky.stage, sneaky.agent_id) == ("policy", "default/secret2")
    assert {"default/open", "default/secret", "default/sneaky", "default/secret2"} == set(asked)


# --------------------------------------------------------------------------- declarative


async def test_declarative_agents_and_duplicates(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "agents/Helpdesk/agent.py": agent_source("Helpdesk"),
            "agents.yaml": """
            agents:
              - id: team/faq
                upstream: local
                model: llama3.2
                instructions: "You answer FAQs.\\nBriefly."
                tools: [lookup_ticket]
                timeout_s: 30
              - id: default/helpdesk
                instructions: clash with the drop-in
              - id: team/notes
                description: Note taker
                max_tool_hops: 2
                aliases: [notes]
        """,
        },
    )
    config = tmp_path / "agents.yaml"
    catalog = await load(tmp_path / "agents", config)
    assert [e.id for e in catalog.list()] == ["default/helpdesk", "team/faq", "team/notes"]
    faq = catalog.get("team/faq")
    assert faq == AgentEntry(
        id="team/faq",
        source="declarative",
        export_kind=None,
        description="You answer FAQs.",
        upstream="local",
        upstream_model="llama3.2",
        aliases=(),
        path=str(config),
        timeout_s=30.0,
        max_turns=None,
        agent_name="team/faq",
        agent=None,
        workflow=None,
        instructions="You answer FAQs.\nBriefly.",
        tools=("lookup_ticket",),
        max_tool_hops=4,
    )
    notes = catalog.get("notes")
    assert notes is not None and notes.id == "team/notes" and notes.max_tool_hops == 2
    assert catalog.get("default/helpdesk").source == "drop_in"
    clash = only_diagnostic(catalog, str(config))
    assert (clash.stage, clash.error_type, clash.agent_id) == ("register", "DuplicateModelId", "default/helpdesk")
    assert "Helpdesk/agent.py" in clash.message


async def test_malformed_agents_yaml_is_one_diagnostic(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "agents/Helpdesk/agent.py": agent_source("Helpdesk"),
            "agents.yaml": "agents:\n  - id: team/faq\n    instruction: typo\n",
        },
    )
    config = tmp_path / "agents.yaml"
    catalog = await load(tmp_path / "agents", config)
    assert [e.id for e in catalog.list()] == ["default/helpdesk"]
    assert len(catalog.diagnostics) == 1
    diagnostic = catalog.diagnostics[0]
    assert (diagnostic.path, diagnostic.stage, diagnostic.error_type) == (str(config), "discover", "ConfigError")
    assert "agents.0.instruction" in diagnostic.message

    config.write_text("agents: [unclosed\n", encoding="utf-8")
    await catalog.refresh()
    assert "not valid YAML" in catalog.diagnostics[0].message


# --------------------------------------------------------------------------- refresh


async def test_refresh_reexecutes_edited_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as in a normal deployment
    write_tree(
        tmp_path,
        {
            "Edit/helper.py": "SUFFIX = 'a'\n",
            "Edit/agent.py": agent_source("Edit", "version 1").replace("agent =", "from helper import SUFFIX\nagent ="),
            "Gone/agent.py": agent_source("Gone"),
        },
    )
    unrelated = private_modules()
    catalog = await load(tmp_path)
    first = catalog.get("default/edit")
    assert first is not None and first.agent.instructions == "version 1"
    first_modules = private_modules() - unrelated

    # Same size, same second: a cached .pyc would be considered fresh.
    (tmp_path / "Edit/agent.py").write_text((tmp_path / "Edit/agent.py").read_text().replace("version 1", "version 2"), encoding="utf-8")
    (tmp_path / "Edit/helper.py").write_text("SUFFIX = 'b'\n", encoding="utf-8")
    shutil.rmtree(tmp_path / "Gone")
    write_tree(tmp_path, {"New/agent.py": "from helper import SUFFIX\n" + agent_source("New")})
    snapshot_reader = catalog.list()
    await catalog.refresh()

    second_modules = private_modules() - unrelated
    second = catalog.get("default/edit")
    assert second is not None and second.agent.instructions == "version 2"
    [helper] = [name for name in second_modules if name.endswith(".helper")]
    assert sys.modules[helper].SUFFIX == "b"
    assert catalog.get("default/gone") is None
    new = only_diagnostic(catalog, "New/agent.py")  # New's folder has no helper.py: no leak from Edit's
    assert new.error_type == "ModuleNotFoundError"
    assert first_modules and first_modules.isdisjoint(second_modules)  # the old generation is unloaded
    assert [e.id for e in snapshot_reader] == ["default/edit", "default/gone"]  # old snapshot untouched
    assert not list(tmp_path.rglob("__pycache__"))  # nothing written into the agents folder


async def test_an_untouched_drop_in_is_imported_once_over_many_refreshes(tmp_path: Path) -> None:
    imports = tmp_path / "imports.log"
    counted = f"open({str(imports)!r}, 'a').write('imported\\n')\n" + agent_source("Counted")
    write_tree(
        tmp_path,
        {
            "agents/Counted/agent.py": counted,
            "agents/Counted/helper.py": "X = 1\n",
            "agents/Other/agent.py": agent_source("Other", "version 0"),
            "agents.yaml": "agents:\n  - id: team/faq\n    instructions: v0\n",
        },
    )
    agents_dir, config = tmp_path / "agents", tmp_path / "agents.yaml"
    catalog = await load(agents_dir, config)
    counted_entry = catalog.get("default/counted")
    assert counted_entry is not None and imports.read_text() == "imported\n"

    for n in range(1, 8):  # seven reloads: of another agent, of agents.yaml, a touch, a full rescan
        (agents_dir / "Other/agent.py").write_text(agent_source("Other", f"version {n}"), encoding="utf-8")
        await catalog.refresh(declarative=False, retry_failed=False)
        config.write_text(f"agents:\n  - id: team/faq\n    instructions: v{n}\n", encoding="utf-8")
        await catalog.refresh(drop_ins=False)
        os.utime(agents_dir / "Counted/agent.py")  # a newer mtime, the same bytes
        await catalog.refresh()
        assert catalog.get("default/other").agent.instructions == f"version {n}"
        assert catalog.get("team/faq").instructions == f"v{n}"
    assert imports.read_text() == "imported\n"
    assert catalog.get("default/counted").agent is counted_entry.agent  # the same objects serve on

    generation = catalog.generation
    await catalog.refresh()
    assert catalog.generation == generation  # nothing changed: holders of agent objects keep theirs

    # A same-size edit with the old mtime put back is still a change: contents are compared.
    helper = agents_dir / "Counted/helper.py"
    stat = helper.stat()
    helper.write_text("X = 2\n", encoding="utf-8")
    os.utime(helper, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    await catalog.refresh(declarative=False, retry_failed=False)
    assert imports.read_text() == "imported\n" * 2
    assert catalog.get("default/counted").agent is not counted_entry.agent
    assert catalog.generation == generation + 1
    (agents_dir / "Counted/requirements.txt").write_text("httpx\n", encoding="utf-8")  # any file of the folder counts
    await catalog.refresh(declarative=False, retry_failed=False)
    assert imports.read_text() == "imported\n" * 3


async def test_a_failed_drop_in_is_retried_by_a_full_refresh_or_an_edit_not_by_others(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts.log"
    write_tree(
        tmp_path,
        {
            "Needy/agent.py": f"open({str(attempts)!r}, 'a').write('x')\nimport not_installed_yet_pkg\n" + agent_source("Needy"),
            "Other/agent.py": agent_source("Other", "version 0"),
        },
    )
    catalog = await load(tmp_path)
    assert only_diagnostic(catalog, "Needy/agent.py").error_type == "ModuleNotFoundError"
    (tmp_path / "Other/agent.py").write_text(agent_source("Other", "version 1"), encoding="utf-8")
    await catalog.refresh(declarative=False, retry_failed=False)  # what the watcher does
    assert attempts.read_text() == "x"
    await catalog.refresh()  # RefreshAgents: maybe the dependency is installed now
    assert attempts.read_text() == "xx"
    (tmp_path / "Needy/agent.py").write_text(agent_source("Needy"), encoding="utf-8")
    await catalog.refresh(declarative=False, retry_failed=False)
    assert catalog.get("default/needy") is not None and catalog.diagnostics == []


def _metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_broken_edit_keeps_the_last_good_version_serving_until_fixed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"Edit/agent.py": agent_source("Edit", "version 1"), "Other/agent.py": agent_source("Other")})
    catalog = await load(tmp_path)
    good = catalog.get("default/edit")
    assert good is not None and good.stale_since is None and good.stale_reason is None
    failures = _metric("agentgateway_agent_load_failures_total", stage="import")

    (tmp_path / "Edit/agent.py").write_text("from agents import Agent\nagent = Agent(\n", encoding="utf-8")
    await catalog.refresh(declarative=False, retry_failed=False)
    stale = catalog.get("default/edit")
    assert stale is not None and stale.agent is good.agent  # still served, the same objects
    assert stale.stale_since is not None and stale.stale_reason is not None
    assert (stale.stale_reason.stage, stale.stale_reason.error_type, stale.stale_reason.stale) == ("import", "SyntaxError", True)
    assert catalog.diagnostics == [stale.stale_reason]
    assert only_diagnostic(catalog, "Edit/agent.py").agent_id == "default/edit"
    assert _metric("agentgateway_agents_stale") == 1
    assert _metric("agentgateway_agent_load_failures_total", stage="import") == failures + 1
    await catalog.refresh()  # the same problem again: listed once, counted once
    assert catalog.diagnostics == [stale.stale_reason]
    assert _metric("agentgateway_agent_load_failures_total", stage="import") == failures + 1

    # Broken differently: still the good version; stale since the first failure, for the latest reason.
    (tmp_path / "Edit/agent.py").write_text("raise RuntimeError('half-written')\n", encoding="utf-8")
    await catalog.refresh(declarative=False, retry_failed=False)
    again = catalog.get("default/edit")
    assert again is not None and again.agent is good.agent and again.stale_since == stale.stale_since
    assert again.stale_reason is not None and (again.stale_reason.error_type, again.stale_reason.message) == ("RuntimeError", "half-written")

    (tmp_path / "Edit/agent.py").write_text(agent_source("Edit", "version 2"), encoding="utf-8")
    await catalog.refresh(declarative=False, retry_failed=False)
    fixed = catalog.get("default/edit")
    assert fixed is not None and fixed.agent.instructions == "version 2"
    assert fixed.stale_since is None and fixed.stale_reason is None and catalog.diagnostics == []
    assert _metric("agentgateway_agents_stale") == 0

    # A new agent that fails is simply not served; a removed stale one is gone.
    write_tree(tmp_path, {"Fresh/agent.py": "agent = 42\n"})
    (tmp_path / "Other/agent.py").write_text("import nowhere_to_be_found\n", encoding="utf-8")
    await catalog.refresh(declarative=False, retry_failed=False)
    assert catalog.get("default/fresh") is None and not only_diagnostic(catalog, "Fresh/agent.py").stale
    assert catalog.get("default/other") is not None and only_diagnostic(catalog, "Other/agent.py").stale
    shutil.rmtree(tmp_path / "Other")
    await catalog.refresh(declarative=False, retry_failed=False)
    assert catalog.get("default/other") is None and [d.path for d in catalog.diagnostics] == ["Fresh/agent.py"]


async def test_a_policy_refusal_is_not_a_broken_edit(tmp_path: Path) -> None:
    denied: set[str] = set()
    write_tree(tmp_path, {"Edit/agent.py": agent_source("Edit")})
    catalog = await load(tmp_path, module_allowed=lambda model_id: (model_id not in denied, "test policy"))
    assert catalog.get("default/edit") is not None
    denied.add("default/edit")
    await catalog.refresh()
    assert catalog.get("default/edit") is None and only_diagnostic(catalog, "Edit/agent.py").stage == "policy"
    denied.clear()  # allowed again: imported again, though its folder did not change
    await catalog.refresh(declarative=False, retry_failed=False)
    assert catalog.get("default/edit") is not None and catalog.diagnostics == []


async def test_a_malformed_agents_yaml_keeps_the_last_good_declarative_agents(tmp_path: Path) -> None:
    config = tmp_path / "agents.yaml"
    config.write_text("agents:\n  - id: team/faq\n    instructions: v1\n", encoding="utf-8")
    catalog = await load(tmp_path / "agents", config)
    config.write_text("agents:\n  - id: team/faq\n    instruction: typo\n", encoding="utf-8")
    await catalog.refresh(drop_ins=False)
    faq = catalog.get("team/faq")
    assert faq is not None and faq.instructions == "v1" and faq.stale_since is not None
    assert faq.stale_reason is not None and faq.stale_reason.stale and "agents.0.instruction" in faq.stale_reason.message
    assert catalog.diagnostics == [faq.stale_reason]
    config.write_text("agents:\n  - id: team/faq\n    instructions: v2\n", encoding="utf-8")
    await catalog.refresh(drop_ins=False)
    faq = catalog.get("team/faq")
    assert faq is not None and faq.instructions == "v2" and faq.stale_since is None and catalog.diagnostics == []
    config.unlink()  # no file: no declarative agents (not a broken edit)
    await catalog.refresh(drop_ins=False)
    assert catalog.list() == [] and catalog.diagnostics == []


# --------------------------------------------------------------------------- sample agents


@pytest.fixture
async def repo_tools(tmp_path: Path) -> AsyncIterator[None]:
    """The repository's own config/tools.yaml, loaded as `make run` loads it (TicketBot needs it)."""
    from services.security.gatekeeper import Gatekeeper
    from services.tools.catalog import ToolCatalog
    from services.tools.runtime import ToolRuntime
    from services.tools.sdk import bind_runtime

    config = REPO / "config"
    tools = ToolCatalog(config / "tools.yaml", config)
    await tools.start()
    assert tools.diagnostics == []
    bind_runtime(ToolRuntime(tools, Gatekeeper.load(tmp_path / "no-security.yaml")))
    try:
        yield
    finally:
        bind_runtime(None)
        await tools.close()


async def sample_catalog() -> AgentCatalog:
    return await load(REPO / "agents", REPO / "config" / "agents.yaml")


async def test_sample_agents_load_cleanly(repo_tools: None) -> None:
    catalog = await sample_catalog()
    assert catalog.diagnostics == []
    kinds = {e.id: e.export_kind for e in catalog.list() if e.source == "drop_in"}
    assert kinds == {
        "default/calculator": "agent",
        "default/extractor": "factory",
        "default/guarded": "agent",
        "default/ticketbot": "agent",
        "default/triage": "agent",
        "default/weather": "agent",
        "labs/planner": "workflow",
        "labs/support": "workflow",
    }
    ticketbot = catalog.get("default/ticketbot").agent
    assert [t.name for t in ticketbot.tools] == ["lookup_ticket", "calc_add"]
    assert ticketbot.tools[0].params_json_schema["properties"]["ticket_id"]["type"] == "integer"
    assert catalog.get("default/helpdesk").tools == ("lookup_ticket",)
    for entry in catalog.list():
        if entry.agent is not None:
            assert entry.agent.model is None  # the gateway decides the model
    triage = catalog.get("default/triage").agent
    assert [(h.name, bool(h.handoff_description)) for h in triage.handoffs] == [("Billing", True), ("Support", True)]
    assert [t.name for t in triage.handoffs[1].tools] == ["check_status"]
    extractor = catalog.get("default/extractor").agent
    assert sorted(extractor.output_type.model_fields) == ["email", "name"]
    planner = catalog.get("planner")
    assert planner is not None and planner.id == "labs/planner" and planner.description


async def test_sample_weather_tool_uses_its_sibling_module() -> None:
    weather = (await sample_catalog()).get("default/weather").agent
    model = ScriptedModel(
        [
            [
                ResponseFunctionToolCall(
                    type="function_call", id="fc_1", call_id="call_1", name="get_weather", arguments='{"city": "Paris"}', status="completed"
                )
            ],
            [text_message("It is sunny in Paris.")],
        ]
    )
    with trace("test", disabled=True):
        result = await Runner.run(weather.clone(model=model), "Weather in Paris?")
    assert result.final_output == "It is sunny in Paris."
    tool_outputs = [item for item in model.inputs[1] if isinstance(item, dict) and item.get("type") == "function_call_output"]
    assert tool_outputs[0]["output"] == "Sunny, 21°C in Paris"


async def test_sample_guardrail_trips_before_the_model() -> None:
    guarded = (await sample_catalog()).get("default/guarded").agent
    assert [g.get_name() for g in guarded.input_guardrails] == ["no_secrets"]
    model = ScriptedModel([[text_message("ok")], [text_message("ok")]])
    with trace("test", disabled=True):
        with pytest.raises(InputGuardrailTripwireTriggered):
            await Runner.run(guarded.clone(model=model), "my Password is hunter2")
        assert model.inputs == []  # the secret never reached the model
        result = await Runner.run(guarded.clone(model=model), "hello")
    assert result.final_output == "ok"


async def test_sample_planner_workflow_returns_output_text() -> None:
    planner = (await sample_catalog()).get("labs/planner")
    model = ScriptedModel([[text_message("1. Plan\n2. Do")]])
    planner_agent = planner.workflow.__globals__["planner_agent"]
    planner_agent.model = model
    try:
        with trace("test", disabled=True):
            output = await planner.workflow(planner.workflow.__globals__["WorkflowInput"](input_as_text="ship it"))
    finally:
        planner_agent.model = None
    assert output == {"output_text": "1. Plan\n2. Do"}
    sent = model.inputs[0]
    assert sent[0]["content"][0] == {"type": "input_text", "text": "ship it"}
