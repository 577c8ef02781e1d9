"""Proto <-> executor domain: ``ChatRequest`` -> ``ChatInput``; events -> ``AgentEvent``."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from agentgateway.v1 import messages_pb2 as pb
from services.errors import invalid_argument
from services.executor import events as ev
from services.security.hardening import find_forbidden_field

__all__ = ["chat_input_from_proto", "event_to_proto", "finish_reason_to_proto", "message_from_final", "usage_to_proto"]

_ROLES = {pb.ROLE_SYSTEM: "system", pb.ROLE_DEVELOPER: "developer", pb.ROLE_USER: "user", pb.ROLE_ASSISTANT: "assistant", pb.ROLE_TOOL: "tool"}
_TOOL_CHOICE = {pb.TOOL_CHOICE_MODE_NONE: "none", pb.TOOL_CHOICE_MODE_AUTO: "auto", pb.TOOL_CHOICE_MODE_REQUIRED: "required"}
_FORMATS = {pb.RESPONSE_FORMAT_TYPE_TEXT: "text", pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT: "json_object", pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA: "json_schema"}
_FINISH: dict[str, pb.FinishReason] = {
    "stop": pb.FINISH_REASON_STOP,
    "length": pb.FINISH_REASON_LENGTH,
    "tool_calls": pb.FINISH_REASON_TOOL_CALLS,
    "content_filter": pb.FINISH_REASON_CONTENT_FILTER,
}
_SOURCES = {"sdk": pb.TOOL_SOURCE_SDK, "gateway": pb.TOOL_SOURCE_GATEWAY, "mcp": pb.TOOL_SOURCE_MCP}
_SAMPLING_FIELDS = ("temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty", "parallel_tool_calls", "n")


def chat_input_from_proto(chat: pb.ChatRequest, request_id: str = "", *, stream: bool = True) -> ev.ChatInput:
    if not chat.model:
        raise invalid_argument("model is required", "model")
    messages = [_message(m, i) for i, m in enumerate(chat.messages)]
    sampling: dict[str, Any] = {name: getattr(chat.sampling, name) for name in _SAMPLING_FIELDS if chat.sampling.HasField(name)}
    if chat.sampling.stop:
        sampling["stop"] = list(chat.sampling.stop)
    if chat.sampling.reasoning_effort:
        sampling["reasoning_effort"] = chat.sampling.reasoning_effort
    tools = [
        {
            "type": "function",
            "function": {
                "name": t.function.name,
                **({"description": t.function.description} if t.function.description else {}),
                "parameters": json_format.MessageToDict(t.function.parameters) if t.function.HasField("parameters") else {"type": "object", "properties": {}},
                **({"strict": t.function.strict} if t.function.HasField("strict") else {}),
            },
        }
        for t in chat.tools
    ]
    tool_choice: str | dict[str, Any] | None = None
    which = chat.tool_choice.WhichOneof("choice")
    if which == "mode" and chat.tool_choice.mode in _TOOL_CHOICE:
        tool_choice = _TOOL_CHOICE[chat.tool_choice.mode]
    elif which == "function_name":
        tool_choice = {"type": "function", "function": {"name": chat.tool_choice.function_name}}
    response_format: dict[str, Any] | None = None
    if chat.response_format.type in _FORMATS:
        response_format = {"type": _FORMATS[chat.response_format.type]}
        if chat.response_format.type == pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
            schema = chat.response_format.json_schema
            response_format["json_schema"] = {
                "name": schema.name or "response",
                **({"description": schema.description} if schema.description else {}),
                "schema": json_format.MessageToDict(schema.schema),
                **({"strict": schema.strict} if schema.HasField("strict") else {}),
            }
    extra = json_format.MessageToDict(chat.extra) if chat.HasField("extra") else {}
    forbidden = find_forbidden_field(extra, "extra")
    if forbidden:
        raise invalid_argument(
            f"the field {forbidden!r} is not accepted: upstream URLs, keys and headers come from gateway config only", forbidden, "FORBIDDEN_FIELD"
        )
    return ev.ChatInput(
        model=chat.model,
        messages=messages,
        sampling=sampling,
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        user=chat.user,
        extra=extra,
        include_usage=chat.include_usage,
        request_id=request_id,
        stream=stream,
    )


def _message(m: pb.ChatMessage, index: int) -> dict[str, Any]:
    role = _ROLES.get(m.role)
    if role is None:
        raise invalid_argument("role is required", f"messages[{index}].role")
    out: dict[str, Any] = {"role": role}
    if m.parts:
        out["content"] = [_part(p) for p in m.parts]
    elif m.content or role != "assistant":
        out["content"] = m.content
    else:
        out["content"] = None
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": c.type or "function", "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in m.tool_calls
        ]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.refusal:
        out["refusal"] = m.refusal
    return out


def _part(p: pb.ContentPart) -> dict[str, Any]:
    which = p.WhichOneof("part")
    if which == "image_url":
        return {"type": "image_url", "image_url": {"url": p.image_url.url, **({"detail": p.image_url.detail} if p.image_url.detail else {})}}
    if which == "input_audio":
        return {"type": "input_audio", "input_audio": {"data": p.input_audio.data, "format": p.input_audio.format}}
    if which == "file":
        return {"type": "file", "file": {"file_id": p.file.file_id, "file_data": p.file.file_data, "filename": p.file.filename}}
    return {"type": "text", "text": p.text}


def finish_reason_to_proto(reason: str) -> pb.FinishReason:
    return _FINISH.get(reason, pb.FINISH_REASON_STOP)


def usage_to_proto(usage: ev.UsageReport) -> pb.Usage:
    return pb.Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, total_tokens=usage.total_tokens)


def _tool_call(call: dict[str, Any]) -> pb.ToolCall:
    function = call.get("function") or {}
    return pb.ToolCall(id=call.get("id", ""), type="function", function=pb.FunctionCall(name=function.get("name", ""), arguments=function.get("arguments", "")))


def message_from_final(final: ev.FinalOutput) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_ASSISTANT, content=final.text, tool_calls=[_tool_call(c) for c in final.tool_calls])


def event_to_proto(event: ev.Event) -> pb.AgentEvent:
    match event:
        case ev.TextDelta(text, agent):
            return pb.AgentEvent(text_delta=pb.TextDelta(text=text, agent=agent))
        case ev.ToolCallDelta(index, call_id, name, args):
            return pb.AgentEvent(tool_call_delta=pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=args))
        case ev.ToolCalled(call_id, name, args, agent, source):
            return pb.AgentEvent(tool_called=pb.ToolCalled(call_id=call_id, name=name, arguments=args, agent=agent, source=_SOURCES[source]))
        case ev.ToolOutput(call_id, name, output, agent, source, duration_s):
            out = pb.ToolOutput(call_id=call_id, name=name, output=output, agent=agent, source=_SOURCES[source])
            out.duration.FromNanoseconds(int(duration_s * 1e9))
            return pb.AgentEvent(tool_output=out)
        case ev.Handoff(from_agent, to_agent):
            return pb.AgentEvent(handoff=pb.Handoff(from_agent=from_agent, to_agent=to_agent))
        case ev.GuardrailTripped(guardrail, kind):
            kind_pb = pb.GUARDRAIL_KIND_INPUT if kind == "input" else pb.GUARDRAIL_KIND_OUTPUT
            return pb.AgentEvent(guardrail_tripped=pb.GuardrailTripped(guardrail=guardrail, kind=kind_pb))
        case ev.FinalOutput():
            return pb.AgentEvent(
                final_output=pb.FinalOutput(
                    text=event.text,
                    agent=event.agent,
                    finish_reason=finish_reason_to_proto(event.finish_reason),
                    structured=event.structured,
                    tool_calls=[_tool_call(c) for c in event.tool_calls],
                )
            )
        case ev.UsageReport():
            return pb.AgentEvent(usage=usage_to_proto(event))
    raise TypeError(f"unknown event {event!r}")
