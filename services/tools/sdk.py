"""``gateway_tool("name")``: a catalogue tool as an Agents SDK ``FunctionTool``.

Drop-in agents write ``tools=[gateway_tool("fetch_doc")]``. The schema comes from the
catalogue when the module loads; each invocation goes through the gateway's tool runtime
with the calling request's principal, request id and deadline, so the caller's tool
allowlist, audit and metrics apply exactly as for ToolService's ``InvokeTool``.
"""

from __future__ import annotations

from typing import Any

from agents import FunctionTool, RunContextWrapper

from services.tools.governed import mark_governed
from services.tools.timings import record_tool_duration
from services.tools.runtime import ToolRuntime

__all__ = ["bind_runtime", "gateway_tool"]

_runtime: ToolRuntime | None = None


def bind_runtime(runtime: ToolRuntime | None) -> None:
    """Called by the gateway at start-up (before drop-ins load) and at shutdown."""
    global _runtime
    _runtime = runtime


def gateway_tool(name: str, *, description: str | None = None) -> FunctionTool:
    if _runtime is None:
        raise RuntimeError("gateway_tool() is only available inside the gateway, with the tools catalogue loaded")
    spec = _runtime.catalog.get(name)
    if spec is None:
        known = ", ".join(s.name for s in _runtime.catalog.list()) or "none"
        raise LookupError(f"gateway tool {name!r} is not in tools.yaml (known: {known})")
    runtime = _runtime

    async def invoke(ctx: RunContextWrapper[Any], arguments: str) -> str:
        result = await runtime.invoke_for_model(name, arguments, source="gateway")
        record_tool_duration(ctx, result.duration_s)
        return result.output

    tool = FunctionTool(
        name=spec.name,
        description=description or spec.description,
        params_json_schema=spec.parameters,
        on_invoke_tool=invoke,
        # Catalogue schemas come from tools.yaml / MCP servers and need not be strict-mode clean.
        strict_json_schema=False,
    )
    # Already governed by the runtime: the SDK-tool wrapper must not check (and audit) it twice.
    mark_governed(tool, "gateway", server=runtime.mcp_server(spec.name))
    return tool
