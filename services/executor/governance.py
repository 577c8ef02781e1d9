"""Govern the tools an SDK agent brings: its ``FunctionTool``s and its MCP servers.

Tools stay as the author wrote them; the gateway wraps their invocation once, at first use,
so every call checks the caller's tool allowlist before the tool runs (a denied call gives
the model an error it can act on, and is audited) and is measured with its source
(``sdk`` or ``mcp``). Agents reached through handoffs are governed too.

MCP servers attached to an agent (``Agent(mcp_servers=[...])``) are connected once, by a
supervisor task that owns the connection for the gateway's lifetime, and reused by every run.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

from agents import Agent, FunctionTool
from agents.mcp import MCPServer
from agents.tool_context import ToolContext
from mcp.types import CallToolResult, TextContent

from services.log import get_logger
from services.metrics import TOOL_CALLS, TOOL_SECONDS
from services.sdk_agents import agents_reachable_from
from services.security.context import caller
from services.security.gatekeeper import Gatekeeper
from services.tools.governed import governed_server, governed_source, mark_governed
from services.tools.timings import record_tool_duration
from services.vocabulary import ToolSource

__all__ = ["AgentToolGovernor"]

log = get_logger("executor")


class AgentToolGovernor:
    def __init__(self, gatekeeper: Gatekeeper, connect_timeout_s: float = 30.0) -> None:
        self._gatekeeper = gatekeeper
        self._connect_timeout_s = connect_timeout_s
        self._connections: dict[int, asyncio.Future[None]] = {}
        self._supervisors: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._stop = asyncio.Event()
        self._retiring: set[asyncio.Task[None]] = set()

    async def prepare(self, agent: Agent[Any]) -> tuple[dict[str, ToolSource], dict[str, str]]:
        """Govern every tool reachable from ``agent``; connect its MCP servers. Returns tool
        name -> source, and tool name -> MCP server label for the tools an MCP server provides."""
        sources: dict[str, ToolSource] = {}
        servers: dict[str, str] = {}
        for reachable in agents_reachable_from(agent):
            for tool in reachable.tools:
                if isinstance(tool, FunctionTool):
                    source = governed_source(tool)
                    if source is None:
                        self._wrap_function_tool(tool)
                    sources[tool.name] = source or "sdk"
                    if label := governed_server(tool):
                        servers[tool.name] = label
            for server in reachable.mcp_servers:
                await self._connect(server)
                for mcp_tool in server.cached_tools or ():
                    sources[mcp_tool.name] = "mcp"
                    servers[mcp_tool.name] = server.name
        return sources, servers

    async def retire_unreachable(self, agents: list[Agent[Any]]) -> None:
        """Disconnect MCP servers no agent in ``agents`` uses any more (after a hot reload)."""
        live = {id(server) for agent in agents for reachable in agents_reachable_from(agent) for server in reachable.mcp_servers}
        for key in [k for k in self._supervisors if k not in live]:
            task, stop = self._supervisors.pop(key)
            self._connections.pop(key, None)
            stop.set()  # its supervisor disconnects in the background; close() still awaits it
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        self._stop.set()
        tasks = [task for task, _ in self._supervisors.values()] + list(self._retiring)
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def _wrap_function_tool(self, tool: FunctionTool) -> None:
        invoke, name, gatekeeper = tool.on_invoke_tool, tool.name, self._gatekeeper

        async def governed(ctx: ToolContext[Any], arguments: str) -> object:
            denied = await _denial(gatekeeper, name, "sdk")
            if denied is not None:
                return denied
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await invoke(ctx, arguments)
                outcome = "ok"
                return result
            finally:
                elapsed = time.perf_counter() - started
                record_tool_duration(ctx, elapsed)
                _invoked(name, "sdk", outcome, elapsed)

        tool.on_invoke_tool = governed
        mark_governed(tool, "sdk")

    async def _connect(self, server: MCPServer) -> None:
        key = id(server)
        ready = self._connections.get(key)
        if ready is None:
            ready = asyncio.get_running_loop().create_future()
            self._connections[key] = ready
            self._govern_mcp_server(server)
            stop = asyncio.Event()
            # Outlives the request that started it: none of its context (caller, request id).
            supervisor = asyncio.create_task(self._supervise(server, ready, stop), name=f"mcp {server.name}", context=contextvars.Context())
            self._supervisors[key] = (supervisor, stop)
        await asyncio.wait_for(asyncio.shield(ready), self._connect_timeout_s)

    async def _supervise(self, server: MCPServer, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        # connect() and cleanup() must run in the same task (anyio cancel scopes), so this task
        # owns the connection until the gateway stops.
        try:
            await server.connect()
            await server.list_tools()
        except Exception as exc:  # noqa: BLE001 - reported to every run that needs this server
            log.error("MCP server failed to connect", extra={"fields": {"server": server.name, "error_type": type(exc).__name__}})
            self._connections.pop(id(server), None)
            if not ready.done():
                ready.set_exception(exc)
            return
        ready.set_result(None)
        log.info("MCP server connected", extra={"fields": {"server": server.name}})
        waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(stop.wait())]
        try:
            # Until the gateway stops, or a hot reload drops the agent that owns this server.
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await server.cleanup()
            log.info("MCP server disconnected", extra={"fields": {"server": server.name}})

    def _govern_mcp_server(self, server: MCPServer) -> None:
        call_tool, gatekeeper = server.call_tool, self._gatekeeper

        async def governed(tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None) -> CallToolResult:
            denied = await _denial(gatekeeper, tool_name, "mcp")
            if denied is not None:
                return CallToolResult(content=[TextContent(type="text", text=denied)], is_error=True)
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await call_tool(tool_name, arguments, meta)
                outcome = "error" if result.is_error else "ok"
                return result
            finally:
                _invoked(tool_name, "mcp", outcome, time.perf_counter() - started)

        # Replace the method on this instance only: every caller (the SDK included) goes through it.
        server.call_tool = governed  # type: ignore[method-assign]


def _invoked(tool: str, source: str, outcome: str, elapsed: float) -> None:
    """Count, time and log one call of an agent's own tool (gateway tools: services/tools/catalog.py)."""
    TOOL_CALLS.labels(tool, source, outcome).inc()
    TOOL_SECONDS.labels(tool, source).observe(elapsed)
    if log.isEnabledFor(logging.INFO):
        log.info("tool invoked", extra={"fields": {"tool": tool, "source": source, "duration_ms": round(elapsed * 1000, 1), "outcome": outcome}})


async def _denial(gatekeeper: Gatekeeper, tool: str, source: str) -> str | None:
    call = caller()
    decision = await gatekeeper.authorize(call.principal, "use_tool", tool, call.request_id)
    if decision.allowed:
        return None
    TOOL_CALLS.labels(tool, source, "denied").inc()
    return f"Error: the tool {tool!r} is not allowed for this caller (policy: {decision.policy}). Do not call it again."
