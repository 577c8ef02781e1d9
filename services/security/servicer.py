"""SecurityService: the contract is defined; enforcement arrives with the security issue."""

from __future__ import annotations

from agentgateway.v1 import security_service_pb2_grpc as pb_grpc
from services._unimplemented import unimplemented_servicer

__all__ = ["SecurityServicer"]

SecurityServicer = unimplemented_servicer(pb_grpc.SecurityServiceServicer, "SecurityService", "SECURITY_NOT_IMPLEMENTED")
