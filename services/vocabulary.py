"""The chat vocabulary shared by the shim and the executor: OpenAI's strings <-> the
``agentgateway.v1`` chat enums, and the sampling fields, each written once.

The shim translates OpenAI JSON into protos with these tables and the executor translates
protos back into OpenAI's vocabulary (the lingua franca of upstreams and the SDK) with the
same tables; events go the other way through ``FINISH_REASON`` and ``TOOL_SOURCE``.
"""

from __future__ import annotations

from typing import Literal

from openai.types.chat import ChatCompletionMessageFunctionToolCallParam

from agentgateway.v1 import messages_pb2 as pb
from services.rpc.enums import ProtoEnum

__all__ = [
    "FINISH_REASON",
    "RESPONSE_FORMAT_TYPE",
    "ROLE",
    "SAMPLING_FIELDS",
    "TOOL_CHOICE_MODE",
    "TOOL_SOURCE",
    "FinishReason",
    "ResponseFormatType",
    "Role",
    "ToolChoiceMode",
    "ToolSource",
    "tool_call_from_openai",
    "tool_call_to_openai",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
ToolChoiceMode = Literal["none", "auto", "required"]
ResponseFormatType = Literal["text", "json_object", "json_schema"]
# approval_required: the run paused for a human decision on tool calls (a gateway extension).
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "approval_required"]
# Where a tool call ran: an agent's own code, the gateway's catalogue, or an MCP server.
ToolSource = Literal["sdk", "gateway", "mcp"]

ROLE: ProtoEnum[Role, pb.Role] = ProtoEnum(pb.Role, Role)
TOOL_CHOICE_MODE: ProtoEnum[ToolChoiceMode, pb.ToolChoiceMode] = ProtoEnum(pb.ToolChoiceMode, ToolChoiceMode)
RESPONSE_FORMAT_TYPE: ProtoEnum[ResponseFormatType, pb.ResponseFormatType] = ProtoEnum(pb.ResponseFormatType, ResponseFormatType)
FINISH_REASON: ProtoEnum[FinishReason, pb.FinishReason] = ProtoEnum(pb.FinishReason, FinishReason)
TOOL_SOURCE: ProtoEnum[ToolSource, pb.ToolSource] = ProtoEnum(pb.ToolSource, ToolSource)

# OpenAI sampling parameters, by their names in both vocabularies (``SamplingParams`` uses
# OpenAI's names; ``max_completion_tokens`` arrives as ``max_tokens``).
SAMPLING_FIELDS: tuple[str, ...] = tuple(f.name for f in pb.SamplingParams.DESCRIPTOR.fields)


def tool_call_to_openai(call: pb.ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    """A ``ToolCall`` as OpenAI's ``tool_calls[]`` item (function tools are the only kind)."""
    return {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}


def tool_call_from_openai(call: ChatCompletionMessageFunctionToolCallParam) -> pb.ToolCall:
    function = call.get("function") or {}
    return pb.ToolCall(id=call.get("id", ""), type="function", function=pb.FunctionCall(name=function.get("name", ""), arguments=function.get("arguments", "")))
