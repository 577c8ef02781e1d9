"""Governed tool calls: the one path by which the gateway runs a catalogue tool.

ToolService's ``InvokeTool``, the ``gateway_tool`` bridge in drop-in agents and the
declarative agents' tool loop all come through here, so every call is authorized against
the caller's tool allowlist, audited, measured and bounded by a deadline the same way.
"""

from __future__ import annotations

import json
import time
from typing import Any

from services.log import get_logger
from services.errors import GatewayError, tool_not_found
from services.metrics import TOOL_CALLS, TOOL_SECONDS
from services.security.context import caller
from services.security.gatekeeper import Gatekeeper
from services.tools.catalog import ToolCatalog, ToolResult

__all__ = ["ModelToolResult", "ToolRuntime"]

log = get_logger("tools")


class ModelToolResult:
    """What a model sees of a tool call: text, and whether it is an error."""

    __slots__ = ("duration_s", "is_error", "output")

    def __init__(self, output: str, is_error: bool, duration_s: float) -> None:
        self.output, self.is_error, self.duration_s = output, is_error, duration_s


class ToolRuntime:
    def __init__(self, catalog: ToolCatalog, gatekeeper: Gatekeeper) -> None:
        self.catalog = catalog
        self._gatekeeper = gatekeeper

    def mcp_server(self, name: str) -> str:
        """The label of the MCP server that provides tool ``name``; "" for other tools."""
        spec = self.catalog.get(name)
        return str(spec.extra.get("mcp_server", "")) if spec is not None else ""

    async def invoke(self, name: str, arguments: dict[str, Any], *, timeout_s: float | None = None, source: str = "gateway") -> ToolResult:
        """Authorize, run and measure one call. Raises ``GatewayError`` (denied, unknown, invalid, failed, timeout)."""
        call = caller()
        if self.catalog.get(name) is None:  # unknown before forbidden: a 404 says more than a 403 here
            raise tool_not_found(name)
        try:
            await self._gatekeeper.require(call.principal, "use_tool", name, call.request_id)
        except GatewayError:
            TOOL_CALLS.labels(name, source, "denied").inc()
            raise
        started = time.perf_counter()
        try:
            result = await self.catalog.invoke(name, arguments, timeout_s)
        except GatewayError as error:
            TOOL_CALLS.labels(name, source, "error").inc()
            TOOL_SECONDS.labels(name, source).observe(time.perf_counter() - started)
            log.info("tool failed", extra={"fields": {"tool": name, "source": source, "reason": error.reason}})
            raise
        TOOL_CALLS.labels(name, source, "ok").inc()
        TOOL_SECONDS.labels(name, source).observe(result.duration_s)
        return result

    async def invoke_for_model(self, name: str, arguments_json: str, *, timeout_s: float | None = None, source: str = "gateway") -> ModelToolResult:
        """Like ``invoke`` but never raises for tool problems: a model gets an error it can act on."""
        started = time.perf_counter()
        try:
            arguments = json.loads(arguments_json or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return ModelToolResult(f"Error: invalid JSON arguments for {name!r}: {exc}", True, time.perf_counter() - started)
        try:
            result = await self.invoke(name, arguments, timeout_s=timeout_s, source=source)
        except GatewayError as error:
            return ModelToolResult(f"Error: {error.message}", True, time.perf_counter() - started)
        return ModelToolResult(result.output, False, result.duration_s)
