"""The registry flags drop-ins whose hosted tools their upstream cannot offer (in-process)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from services.registry.catalog import AgentCatalog
from services.upstreams import UpstreamConfig, UpstreamsFile

pytestmark = pytest.mark.asyncio

UPSTREAMS = UpstreamsFile(
    default="local",
    upstreams=[
        UpstreamConfig(name="local", base_url="http://127.0.0.1:11434/v1"),  # chat_completions by default
        UpstreamConfig(name="openai", base_url="https://api.openai.com/v1"),  # responses by default
    ],
)

AGENTS = {
    "Search/agent.py": """
        from agents import Agent, WebSearchTool
        agent = Agent(name="Search", tools=[WebSearchTool()])
    """,
    "Routed/agent.py": """
        from agents import Agent, CodeInterpreterTool
        __gateway__ = {"upstream": "openai"}
        agent = Agent(name="Routed", tools=[CodeInterpreterTool(tool_config={"type": "code_interpreter", "container": {"type": "auto"}})])
    """,
    "Triage/agent.py": """
        from agents import Agent, FileSearchTool
        specialist = Agent(name="Specialist", tools=[FileSearchTool(vector_store_ids=["vs_1"])])
        agent = Agent(name="Triage", handoffs=[specialist])
    """,
    "Plain/agent.py": """
        from agents import Agent, function_tool
        @function_tool
        def add(a: int, b: int) -> int:
            return a + b
        agent = Agent(name="Plain", tools=[add])
    """,
}


async def _catalog(tmp_path: Path, upstreams: UpstreamsFile | None) -> AgentCatalog:
    for relative, source in AGENTS.items():
        target = tmp_path / "agents" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source))
    catalog = AgentCatalog(tmp_path / "agents", None, upstreams=upstreams)
    await catalog.refresh()
    return catalog


async def test_hosted_tools_on_a_chat_upstream_are_diagnosed_and_still_served(tmp_path: Path) -> None:
    catalog = await _catalog(tmp_path, UPSTREAMS)
    found = {d.agent_id: d for d in catalog.diagnostics}
    assert set(found) == {"default/search", "default/triage"}  # a handoff target's hosted tool counts too
    search = found["default/search"]
    assert (search.path, search.stage, search.error_type) == ("Search/agent.py", "register", "HostedToolUnsupported")
    assert "'web_search'" in search.message and "upstream 'local'" in search.message and "api: responses" in search.message
    assert "'file_search'" in found["default/triage"].message
    # Served all the same: a request gets the 400 that says why, not a 404.
    assert [e.id for e in catalog.list()] == ["default/plain", "default/routed", "default/search", "default/triage"]


async def test_a_responses_default_upstream_diagnoses_nothing(tmp_path: Path) -> None:
    catalog = await _catalog(tmp_path, UpstreamsFile(default="openai", upstreams=UPSTREAMS.upstreams))
    assert catalog.diagnostics == []


async def test_without_upstream_configs_the_registry_does_not_guess(tmp_path: Path) -> None:
    assert (await _catalog(tmp_path, None)).diagnostics == []
