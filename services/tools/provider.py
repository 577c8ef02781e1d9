"""What every tool provider (local Python, HTTP, MCP) offers the catalogue.

Providers know how to list and run their tools; the catalogue owns names, argument
validation, deadlines and error mapping, so each provider stays small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ToolFailure", "ToolKind", "ToolProvider", "ToolSpec"]

ToolKind = Literal["python", "http", "mcp"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as models and clients see it."""

    name: str  # unique gateway tool name, e.g. "lookup_ticket" or "calc_add" (MCP: <server>_<tool>)
    description: str
    parameters: dict[str, Any]  # JSON schema (type: object)
    kind: ToolKind
    # Provider-private routing data (e.g. the MCP server's own tool name).
    target: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class ToolFailure(Exception):
    """The tool ran and failed (raised, returned an error, HTTP 5xx...). The message is safe
    to show a model or a client: no secrets, no internal URLs with credentials."""


class ToolProvider(ABC):
    """One configured tools.yaml entry. ``start`` may open connections (MCP sessions) that
    ``invoke`` reuses across requests; ``close`` releases them."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def list_tools(self) -> list[ToolSpec]: ...

    @abstractmethod
    async def invoke(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        """Run the tool with already-validated arguments; return its output as text
        (JSON text for structured results). Raise ``ToolFailure`` for tool-level failures.
        The caller enforces the deadline by cancelling this coroutine."""

    @abstractmethod
    async def close(self) -> None: ...
