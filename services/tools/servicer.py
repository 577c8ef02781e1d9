"""ToolService: the contract is defined; the catalogue arrives with the tools issue."""

from __future__ import annotations

from agentgateway.v1 import tool_service_pb2_grpc as pb_grpc
from services._unimplemented import unimplemented_servicer

__all__ = ["ToolServicer"]

ToolServicer = unimplemented_servicer(pb_grpc.ToolServiceServicer, "ToolService", "TOOLS_NOT_IMPLEMENTED")
