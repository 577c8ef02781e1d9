"""Agent Gateway's public API for drop-in agents, and (in ``agentgateway.v1``) the generated
protobuf and gRPC stubs of its wire contract.

A drop-in agent uses the gateway's catalogue tools (``config/tools.yaml``) like this::

    from agents import Agent
    from agentgateway import gateway_tool

    agent = Agent(name="Desk", tools=[gateway_tool("lookup_ticket")])

Each call of such a tool runs inside the gateway with the calling request's key: its tool
allowlist, audit, metrics and deadline apply (docs/tools.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["gateway_tool"]

if TYPE_CHECKING:
    from services.tools.sdk import gateway_tool


def __getattr__(name: str) -> Any:
    # Lazy, so that importing only the generated stubs (agentgateway.v1) stays light.
    if name == "gateway_tool":
        from services.tools.sdk import gateway_tool

        return gateway_tool
    raise AttributeError(f"module 'agentgateway' has no attribute {name!r}")
