"""ToolService over gRPC: transport only; calls go through ``ToolRuntime``."""

from __future__ import annotations

import grpc
from google.protobuf import json_format, struct_pb2

from agentgateway.v1 import tool_service_pb2 as pb
from agentgateway.v1 import tool_service_pb2_grpc as pb_grpc
from services.rpc.enums import ProtoEnum
from services.rpc.paging import page_of
from services.rpc.structs import json_from_struct, struct_from_json
from services.config_files import ConfigError
from services.errors import GatewayError, invalid_argument, tool_not_found
from services.security.context import caller
from services.security.gatekeeper import Gatekeeper
from services.tools.provider import ToolKind, ToolSpec
from services.tools.runtime import ToolRuntime

__all__ = ["ToolServicer"]

KIND: ProtoEnum[ToolKind, pb.ToolKind] = ProtoEnum(pb.ToolKind, ToolKind)


def tool_to_proto(spec: ToolSpec) -> pb.Tool:
    parameters = struct_from_json(spec.parameters, "parameters")
    return pb.Tool(name=f"tools/{spec.name}", tool_name=spec.name, description=spec.description, kind=KIND.to_proto(spec.kind), parameters=parameters)


def _tool_name(spec: ToolSpec) -> str:
    return spec.name


class ToolServicer(pb_grpc.ToolServiceServicer):
    def __init__(self, runtime: ToolRuntime, gatekeeper: Gatekeeper) -> None:
        self._runtime = runtime
        self._gatekeeper = gatekeeper

    async def ListTools(
        self, request: pb.ListToolsRequest, context: grpc.aio.ServicerContext[pb.ListToolsRequest, pb.ListToolsResponse]
    ) -> pb.ListToolsResponse:
        # Only the tools the caller may use.
        specs = await self._gatekeeper.visible(caller().principal, "use_tool", self._runtime.catalog.list(), _tool_name)
        page, token = page_of(specs, _tool_name, request.page_size, request.page_token)
        return pb.ListToolsResponse(tools=[tool_to_proto(s) for s in page], next_page_token=token)

    async def GetTool(self, request: pb.GetToolRequest, context: grpc.aio.ServicerContext[pb.GetToolRequest, pb.GetToolResponse]) -> pb.GetToolResponse:
        name = request.name.removeprefix("tools/")
        spec = self._runtime.catalog.get(name)
        if spec is None:
            raise tool_not_found(name)
        call = caller()
        await self._gatekeeper.require(call.principal, "use_tool", name, call.request_id)
        return pb.GetToolResponse(tool=tool_to_proto(spec))

    async def InvokeTool(
        self, request: pb.InvokeToolRequest, context: grpc.aio.ServicerContext[pb.InvokeToolRequest, pb.InvokeToolResponse]
    ) -> pb.InvokeToolResponse:
        name = request.name.removeprefix("tools/")
        if not name:
            raise invalid_argument("name is required, e.g. tools/lookup_ticket", "name")
        remaining = context.time_remaining()
        result = await self._runtime.invoke(name, json_from_struct(request.arguments, "arguments"), timeout_s=remaining, source="gateway")
        response = pb.InvokeToolResponse(output=result.output)
        response.duration.FromNanoseconds(int(result.duration_s * 1e9))
        return response

    async def RefreshTools(
        self, request: pb.RefreshToolsRequest, context: grpc.aio.ServicerContext[pb.RefreshToolsRequest, pb.RefreshToolsResponse]
    ) -> pb.RefreshToolsResponse:
        try:
            await self._runtime.catalog.refresh()
        except ConfigError as exc:
            raise GatewayError("FAILED_PRECONDITION", "TOOLS_CONFIG_INVALID", f"tools not reloaded, the old catalogue stays: {exc}") from None
        return pb.RefreshToolsResponse(tool_count=len(self._runtime.catalog.list()))
