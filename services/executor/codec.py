"""Proto <-> executor domain: ``ChatRequest`` -> ``ChatInput``; events -> ``AgentEvent``.

Enum names come from ``services.vocabulary``; this module only moves fields.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import timestamp_pb2

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import messages_pb2 as pb
from services.errors import invalid_argument
from services.executor import events as ev
from services.executor.approval_store import PendingApproval
from services.executor.approvals import CallDecision, Resolution
from services.rpc.names import resource_id
from services.rpc.structs import json_from_struct
from services.security.hardening import reject_forbidden_fields
from services.vocabulary import FINISH_REASON, RESPONSE_FORMAT_TYPE, ROLE, TOOL_CHOICE_MODE, TOOL_SOURCE, tool_call_from_openai, tool_call_to_openai

__all__ = [
    "approval_id_from_name",
    "approval_to_proto",
    "chat_input_from_proto",
    "completion_to_proto",
    "event_to_proto",
    "resolution_from_proto",
    "resumed_completion_to_proto",
    "usage_to_proto",
]


def chat_input_from_proto(chat: pb.ChatRequest) -> ev.ChatInput:
    if not chat.model:
        raise invalid_argument("model is required", "model")
    extra = json_from_struct(chat.extra, "extra") if chat.HasField("extra") else {}
    reject_forbidden_fields(extra, "extra")
    return ev.ChatInput(
        model_id=chat.model,
        messages=[_message(m, i) for i, m in enumerate(chat.messages)],
        sampling=_sampling(chat.sampling),
        tools=[_tool(t, i) for i, t in enumerate(chat.tools)],
        tool_choice=_tool_choice(chat.tool_choice),
        response_format=_response_format(chat.response_format),
        user=chat.user,
        extra=extra,
    )


def _sampling(sampling: pb.SamplingParams) -> dict[str, Any]:
    # ListFields: exactly the fields the client set (proto3 `optional`, non-empty stop, reasoning_effort).
    return {fd.name: list(value) if fd.is_repeated else value for fd, value in sampling.ListFields()}


def _tool(tool: pb.ToolDefinition, index: int) -> dict[str, Any]:
    if tool.type not in ("", "function"):
        raise invalid_argument(f"tools[{index}]: only function tools are supported, got {tool.type!r}", f"tools[{index}].type")
    fn = tool.function
    function: dict[str, Any] = {"name": fn.name}
    if fn.description:
        function["description"] = fn.description
    function["parameters"] = (
        json_from_struct(fn.parameters, f"tools[{index}].function.parameters") if fn.HasField("parameters") else {"type": "object", "properties": {}}
    )
    if fn.HasField("strict"):
        function["strict"] = fn.strict
    return {"type": "function", "function": function}


def _tool_choice(choice: pb.ToolChoice) -> str | dict[str, Any] | None:
    which = choice.WhichOneof("choice")
    if which == "mode":
        return TOOL_CHOICE_MODE.from_proto(choice.mode)
    if which == "function_name":
        return {"type": "function", "function": {"name": choice.function_name}}
    return None


def _response_format(fmt: pb.ResponseFormat) -> dict[str, Any] | None:
    kind = RESPONSE_FORMAT_TYPE.from_proto(fmt.type)
    if kind is None:
        return None
    out: dict[str, Any] = {"type": kind}
    if kind == "json_schema":
        schema = fmt.json_schema
        spec: dict[str, Any] = {"name": schema.name or "response"}
        if schema.description:
            spec["description"] = schema.description
        spec["schema"] = json_from_struct(schema.schema, "response_format.json_schema.schema")
        if schema.HasField("strict"):
            spec["strict"] = schema.strict
        out["json_schema"] = spec
    return out


def _message(m: pb.ChatMessage, index: int) -> dict[str, Any]:
    role = ROLE.from_proto(m.role)
    if role is None:
        raise invalid_argument("role is required", f"messages[{index}].role")
    out: dict[str, Any] = {"role": role}
    if m.parts:
        out["content"] = [_part(p, f"messages[{index}].content[{i}]") for i, p in enumerate(m.parts)]
    elif role == "assistant" and not m.content and m.tool_calls:
        out["content"] = None  # OpenAI: assistant content may be null only when it has tool_calls
    else:
        out["content"] = m.content
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [tool_call_to_openai(c) for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.refusal:
        out["refusal"] = m.refusal
    return out


def _part(p: pb.ContentPart, param: str) -> dict[str, Any]:
    """A content part in OpenAI's shape; the fields each kind needs are required here, where the
    error can name them (the SDK would refuse the part later, as a failure of the run)."""
    which = p.WhichOneof("part")
    if which == "image_url":
        _require(p.image_url.url, f"{param}.image_url.url")
        return {"type": "image_url", "image_url": {"url": p.image_url.url, **({"detail": p.image_url.detail} if p.image_url.detail else {})}}
    if which == "input_audio":
        _require(p.input_audio.data, f"{param}.input_audio.data")
        _require(p.input_audio.format, f"{param}.input_audio.format")
        return {"type": "input_audio", "input_audio": {"data": p.input_audio.data, "format": p.input_audio.format}}
    if which == "file":
        if not (p.file.file_id or p.file.file_data):
            raise invalid_argument("a file part needs file_id or file_data", f"{param}.file")
        # Only the fields the client set (passthrough forwards these messages upstream as they are).
        return {"type": "file", "file": {k: v for k, v in (("file_id", p.file.file_id), ("file_data", p.file.file_data), ("filename", p.file.filename)) if v}}
    return {"type": "text", "text": p.text}


def _require(value: str, param: str) -> None:
    if not value:
        raise invalid_argument(f"{param} is required", param)


def usage_to_proto(usage: ev.Usage) -> pb.Usage:
    return pb.Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, total_tokens=usage.total_tokens)


def event_to_proto(event: ev.Event) -> pb.AgentEvent:
    match event:
        case ev.TextDelta(text, agent):
            return pb.AgentEvent(text_delta=pb.TextDelta(text=text, agent=agent))
        case ev.ToolCallDelta(index, call_id, name, args):
            return pb.AgentEvent(tool_call_delta=pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=args))
        case ev.ToolCalled(call_id, name, args, agent, source, server):
            called = pb.ToolCalled(call_id=call_id, name=name, arguments=args, agent=agent, source=TOOL_SOURCE.to_proto(source), server=server)
            return pb.AgentEvent(tool_called=called)
        case ev.ToolOutput(call_id, name, output, agent, source, duration_s, server):
            out = pb.ToolOutput(call_id=call_id, name=name, output=output, agent=agent, source=TOOL_SOURCE.to_proto(source), server=server)
            out.duration.FromNanoseconds(int(duration_s * 1e9))
            return pb.AgentEvent(tool_output=out)
        case ev.Handoff(from_agent, to_agent):
            return pb.AgentEvent(handoff=pb.Handoff(from_agent=from_agent, to_agent=to_agent))
        case ev.ApprovalRequired(approval_id, calls, expires_at):
            return pb.AgentEvent(
                approval_required=pb.ApprovalRequired(approval_id=approval_id, calls=map(_approval_call, calls), expire_time=_timestamp(expires_at))
            )
        case ev.FinalOutput():
            final = pb.FinalOutput(
                text=event.text,
                agent=event.agent,
                finish_reason=FINISH_REASON.to_proto(event.finish_reason),
                structured=event.structured,
                tool_calls=[tool_call_from_openai(c) for c in event.tool_calls],
            )
            return pb.AgentEvent(final_output=final)
        case ev.Usage():
            return pb.AgentEvent(usage=usage_to_proto(event))
    raise TypeError(f"unknown event {event!r}")


def completion_to_proto(done: ev.Completion, completion_id: str, created: int, model_id: str) -> ex_pb.CreateChatCompletionResponse:
    return _completion(ex_pb.CreateChatCompletionResponse, done, completion_id, created, model_id)


def resumed_completion_to_proto(done: ev.Completion, completion_id: str, created: int, model_id: str) -> ex_pb.ResolveApprovalResponse:
    return _completion(ex_pb.ResolveApprovalResponse, done, completion_id, created, model_id)


_Completion = TypeVar("_Completion", ex_pb.CreateChatCompletionResponse, ex_pb.ResolveApprovalResponse)


def _completion(kind: type[_Completion], done: ev.Completion, completion_id: str, created: int, model_id: str) -> _Completion:
    # The two responses have the same fields: a resumed run answers like the run it resumes.
    response = kind(
        id=completion_id,
        model=model_id,
        created=created,
        message=pb.ChatMessage(role=pb.ROLE_ASSISTANT, content=done.final.text, tool_calls=[tool_call_from_openai(c) for c in done.final.tool_calls]),
        finish_reason=FINISH_REASON.to_proto(done.final.finish_reason),
        events=[event_to_proto(e) for e in done.events],
    )
    if done.usage is not None:
        response.usage.CopyFrom(usage_to_proto(done.usage))
    return response


def approval_id_from_name(name: str) -> str:
    """``approvals/{id}`` (or a bare id) -> the id."""
    return resource_id(name, "approvals")


def resolution_from_proto(decision: ex_pb.ApprovalDecision) -> Resolution:
    calls: dict[str, CallDecision] = {}
    for i, call in enumerate(decision.calls):
        if not call.call_id:
            raise invalid_argument("call_id is required", f"decision.calls[{i}].call_id")
        calls[call.call_id] = CallDecision(call.approve, call.reason)
    return Resolution(approval_id_from_name(decision.name), decision.approve, decision.reason, calls)


def approval_to_proto(pending: PendingApproval) -> ex_pb.Approval:
    return ex_pb.Approval(
        name=f"approvals/{pending.approval_id}",
        approval_id=pending.approval_id,
        model=pending.model_id,
        calls=map(_approval_call, pending.calls),
        create_time=_timestamp(pending.created_at),
        expire_time=_timestamp(pending.expires_at),
    )


def _approval_call(call: ev.ApprovalCall) -> pb.ApprovalCall:
    return pb.ApprovalCall(call_id=call.call_id, tool_name=call.tool_name, arguments=call.arguments, agent=call.agent, source=TOOL_SOURCE.to_proto(call.source))


def _timestamp(unix_s: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(unix_s * 1e9))
    return stamp
