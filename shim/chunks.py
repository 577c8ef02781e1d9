"""Executor events -> OpenAI ``chat.completion`` / ``chat.completion.chunk`` JSON."""

from __future__ import annotations

import json
from typing import Any

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import messages_pb2 as pb

__all__ = ["FINISH", "CompletionMeta", "chunk", "completion", "sse", "usage_json"]

FINISH = {
    pb.FINISH_REASON_STOP: "stop",
    pb.FINISH_REASON_LENGTH: "length",
    pb.FINISH_REASON_TOOL_CALLS: "tool_calls",
    pb.FINISH_REASON_CONTENT_FILTER: "content_filter",
}


class CompletionMeta:
    """id/created/model shared by every chunk of one completion."""

    def __init__(self, first: ex_pb.StreamChatCompletionResponse, requested_model: str) -> None:
        self.id = first.id
        self.created = first.created
        self.model = first.model or requested_model


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


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


def tool_call_json(call: pb.ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}


def tool_call_delta_json(delta: pb.ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": delta.index, "function": {"arguments": delta.arguments_delta}}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    if delta.name:
        out["function"]["name"] = delta.name
    return out


def completion(meta: CompletionMeta, final: pb.FinalOutput, usage: pb.Usage | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": final.text, "refusal": None}
    if final.tool_calls:
        message["tool_calls"] = [tool_call_json(c) for c in final.tool_calls]
        message["content"] = final.text or None
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": FINISH.get(final.finish_reason, "stop")}],
        "usage": usage_json(usage),
    }
