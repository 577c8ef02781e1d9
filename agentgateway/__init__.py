"""Agent Gateway's public API for drop-in agents, and (in ``agentgateway.v1``) the generated
protobuf and gRPC stubs of its wire contract.

A drop-in agent uses the gateway's catalogue tools (``config/tools.yaml``) like this::

    from agents import Agent
    from agentgateway import gateway_tool

    agent = Agent(name="Desk", tools=[gateway_tool("lookup_ticket")])

Each call of such a tool runs inside the gateway with the calling request's key: its tool
allowlist, audit, metrics and deadline apply (docs/tools.md).

``request_info()`` tells agent code who is asking (model id, request id, the caller's key id
and roles, the request's ``user`` and ``metadata``; never the key), and
``__gateway__ = {"context": build_context}`` builds a run's SDK context from that
``RequestInfo`` (docs/agents.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RequestInfo", "gateway_tool", "request_info"]

if TYPE_CHECKING:
    from services.executor.request_info import RequestInfo, request_info
    from services.tools.sdk import gateway_tool


def __getattr__(name: str) -> Any:
    # Lazy, so that importing only the generated stubs (agentgateway.v1) stays light.
    if name == "gateway_tool":
        from services.tools.sdk import gateway_tool

        return gateway_tool
    if name in ("RequestInfo", "request_info"):
        from services.executor import request_info as module

        return getattr(module, name)
    raise AttributeError(f"module 'agentgateway' has no attribute {name!r}")
