"""The mark a governed ``FunctionTool`` carries, and where its calls run.

A tool that already checks, audits and measures its own calls (``gateway_tool``) or that the
executor has wrapped once (an agent's own ``@function_tool``) carries this mark, so it is never
wrapped twice. ``FunctionTool`` is an unhashable dataclass, so the mark lives on the tool itself
rather than in a set.
"""

from __future__ import annotations

from agents import FunctionTool

from services.vocabulary import ToolSource

__all__ = ["governed_server", "governed_source", "mark_governed"]

_MARK = "_agentgateway_source"
_SERVER = "_agentgateway_mcp_server"


def mark_governed(tool: FunctionTool, source: ToolSource, *, server: str = "") -> None:
    """``server``: the MCP server that provides the tool (its label), for an MCP tool."""
    setattr(tool, _MARK, source)
    if server:
        setattr(tool, _SERVER, server)


def governed_server(tool: FunctionTool) -> str:
    """The label of the MCP server behind a governed tool; "" when it is not an MCP tool."""
    server: str = getattr(tool, _SERVER, "")
    return server


def governed_source(tool: FunctionTool) -> ToolSource | None:
    """The source (``sdk``, ``gateway``, ``mcp``) of a governed tool; None if not governed yet."""
    source: ToolSource | None = getattr(tool, _MARK, None)
    return source
