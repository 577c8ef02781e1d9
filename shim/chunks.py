"""Executor events -> OpenAI ``chat.completion`` / ``chat.completion.chunk`` JSON."""

from __future__ import annotations

from typing import Any

from agentgateway.v1 import messages_pb2 as pb
from services import json_wire
from services.vocabulary import FINISH_REASON, TOOL_SOURCE, tool_call_to_openai

__all__ = [
    "CompletionMeta",
    "agent_event_json",
    "chunk",
    "completion",
    "extension_sse",
    "finish_reason",
    "sse",
    "tool_call_delta_json",
    "usage_json",
]


def finish_reason(value: int) -> str:
    return FINISH_REASON.from_proto(value) or "stop"


class CompletionMeta:
    """id/created/model shared by every chunk of one completion."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self.id = completion_id
        self.created = created
        self.model = model


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else json_wire.dumps(payload)
    return b"data: " + data + b"\n\n"


def chunk(meta: CompletionMeta, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }


def usage_json(usage: pb.Usage | None) -> dict[str, int]:
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}


def tool_call_delta_json(delta: pb.ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": delta.index, "function": {"arguments": delta.arguments_delta}}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    if delta.name:
        out["function"]["name"] = delta.name
    return out


def agent_event_json(event: pb.AgentEvent) -> dict[str, Any] | None:
    """The opt-in ``agentgateway`` extension: server-side tool calls and handoffs, for REST clients."""
    kind = event.WhichOneof("event")
    if kind in ("tool_called", "tool_output"):
        e = event.tool_called if kind == "tool_called" else event.tool_output
        out: dict[str, Any] = {"type": kind, "call_id": e.call_id, "name": e.name, "agent": e.agent, "source": TOOL_SOURCE.from_proto(e.source) or "sdk"}
        if e.server:
            out["server"] = e.server
        if isinstance(e, pb.ToolCalled):
            out["arguments"] = e.arguments
        else:
            out["output"] = e.output
            out["duration_ms"] = round(e.duration.ToNanoseconds() / 1e6, 3)
        return out
    if kind == "handoff":
        return {"type": "handoff", "from_agent": event.handoff.from_agent, "to_agent": event.handoff.to_agent}
    return None


def extension_sse(meta: CompletionMeta, payload: dict[str, Any]) -> bytes:
    """A named SSE event whose data is also a valid chunk with no choices: clients that dispatch
    on the event name (openai-node) skip it; clients that parse every ``data:`` as a chunk
    (openai-python) see an empty-choices chunk, as with the usage chunk."""
    body = {**chunk(meta, {}), "choices": [], "agentgateway": payload}
    return f"event: agentgateway.{payload['type']}\ndata: ".encode() + json_wire.dumps(body) + b"\n\n"


def completion(meta: CompletionMeta, reply: pb.ChatMessage, finish: int, usage: pb.Usage | None) -> dict[str, Any]:
    """A whole ``chat.completion`` from the executor's unary reply."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [tool_call_to_openai(c) for c in reply.tool_calls]
        message["content"] = reply.content or None
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(finish)}],
        "usage": usage_json(usage),
    }
