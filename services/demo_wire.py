"""Server-side OpenAI Chat Completions wire shapes, for the demo model and test fakes.

Replies (`TextReply`, `ToolCallReply`) become ``chat.completion`` objects or
``chat.completion.chunk`` streams (SSE ``data:`` lines ending in ``data: [DONE]``)
exactly as the official API sends them, so the ``openai`` client and the Agents SDK
parse them unchanged: usage with its ``*_details`` objects, null usage on every chunk
but the last when ``stream_options.include_usage`` is set, tool-call deltas whose first
fragment carries id/type/name, text split on word boundaries, OpenAI error bodies.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.responses import JSONResponse, StreamingResponse

__all__ = [
    "CHAT_API",
    "CHAT_PATH",
    "SSE_DONE",
    "Built",
    "Completion",
    "Frame",
    "TextReply",
    "ToolCall",
    "ToolCallReply",
    "Usage",
    "WireApi",
    "body_error",
    "chat_body_error",
    "chat_frames",
    "completion",
    "completion_response",
    "error_response",
    "json_response",
    "message_text",
    "models_response",
    "not_found_response",
    "parse_json",
    "reply_words",
    "split_chars",
    "split_words",
    "sse",
    "sse_response",
    "stream_chunks",
]

CHAT_PATH = "/v1/chat/completions"
SSE_DONE = "data: [DONE]\n\n"


@dataclass(frozen=True)
class Usage:
    """Token usage to report instead of the computed word counts."""

    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, Any]:
        # Include the *_details objects like the real API does: the Agents SDK reads them.
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def to_responses_dict(self) -> dict[str, Any]:
        """The same counts as the Responses API names them."""
        return {
            "input_tokens": self.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class TextReply:
    """Assistant text. Streamed as `chunks` content deltas split on word boundaries.

    Responses API only (Chat Completions has no such items, so its builders leave them out):
    `reasoning` is a reasoning summary item before the answer, `web_search` the query of a
    web search the provider ran before answering (a ``web_search_call`` item). A
    ``finish_reason`` other than ``stop`` is an ``incomplete`` Response there."""

    content: str
    chunks: int = 3
    chunk_delay: float = 0.0  # seconds between streamed chunks
    finish_reason: Literal["stop", "length", "content_filter"] = "stop"
    usage: Usage | None = None
    reasoning: str | None = None
    web_search: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """One function call. A mapping for `arguments` is JSON-encoded for convenience;
    `id=None` gets a deterministic ``call_<n>_<i>`` id."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arguments, str):
            object.__setattr__(self, "arguments", json.dumps(dict(self.arguments)))

    @property
    def arguments_json(self) -> str:
        assert isinstance(self.arguments, str)  # normalised in __post_init__
        return self.arguments


@dataclass(frozen=True)
class ToolCallReply:
    """Assistant tool calls (``finish_reason: "tool_calls"``). When streamed, each
    call's arguments are split across `fragments` (at least 2) deltas."""

    calls: Sequence[ToolCall]
    fragments: int = 3
    chunk_delay: float = 0.0
    usage: Usage | None = None
    reasoning: str | None = None  # Responses API only, as for TextReply

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", tuple(self.calls))
        if not self.calls:
            raise ValueError("ToolCallReply needs at least one ToolCall")


@dataclass(frozen=True)
class Frame:
    """One SSE event as sent. A reply's ``chunk_delay`` is the pause before each paced frame
    but the first (the ones carrying text or arguments); envelope frames follow at once."""

    text: str
    paced: bool


@dataclass(frozen=True)
class Completion:
    """Envelope data shared by every chunk of one completion."""

    id: str
    created: int
    model: str
    include_usage: bool
    usage: Usage
    call_prefix: str  # for deterministic tool call ids

    @classmethod
    def of(cls, body: dict[str, Any], reply: TextReply | ToolCallReply, completion_id: str) -> Completion:
        """For a validated request `body` (see `chat_body_error`); usage counts words unless the reply sets it."""
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        usage = reply.usage or Usage(
            prompt_tokens=max(1, sum(len(message_text(m.get("content")).split()) for m in messages)),
            completion_tokens=max(1, reply_words(reply)),
        )
        stream_options = body.get("stream_options")
        return cls(
            id=completion_id,
            created=int(time.time()),
            model=body["model"],
            include_usage=isinstance(stream_options, dict) and stream_options.get("include_usage") is True,
            usage=usage,
            call_prefix=f"call_{len(messages)}",
        )


# ------------------------------------------------------------------------------ bodies


def message_text(content: Any) -> str:
    """Text of a message content: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _call_id(ctx: Completion, call: ToolCall, index: int) -> str:
    # Message count makes ids unique within a conversation yet deterministic.
    return call.id or f"{ctx.call_prefix}_{index}"


def completion(ctx: Completion, reply: TextReply | ToolCallReply) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if isinstance(reply, TextReply):
        message["content"] = reply.content
        finish_reason: str = reply.finish_reason
    else:
        message["tool_calls"] = [
            {"id": _call_id(ctx, call, i), "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}
            for i, call in enumerate(reply.calls)
        ]
        finish_reason = "tool_calls"
    return {
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": ctx.usage.to_dict(),
        "service_tier": "default",
        "system_fingerprint": None,
    }


def _chunk(ctx: Completion, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": ctx.id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "service_tier": "default",
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if ctx.include_usage:
        chunk["usage"] = None  # the real API sends null usage on every chunk but the last
    return chunk


def stream_chunks(ctx: Completion, reply: TextReply | ToolCallReply, *, finish: bool = True) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed reply. ``finish=False`` stops
    before the finish chunk (a stream that never ends)."""
    chunks: list[dict[str, Any]] = []
    if isinstance(reply, ToolCallReply):
        for i, call in enumerate(reply.calls):
            # First delta of a call carries id/type/name; later ones only argument text.
            head = {"index": i, "id": _call_id(ctx, call, i), "type": "function", "function": {"name": call.name, "arguments": ""}}
            delta: dict[str, Any] = {"tool_calls": [head]}
            if i == 0:
                delta = {"role": "assistant", "content": None, "refusal": None, **delta}
            chunks.append(_chunk(ctx, delta))
            for fragment in split_chars(call.arguments_json, max(2, reply.fragments)):
                chunks.append(_chunk(ctx, {"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}))
        finish_reason = "tool_calls"
    else:
        chunks.append(_chunk(ctx, {"role": "assistant", "content": "", "refusal": None}))
        chunks += [_chunk(ctx, {"content": piece}) for piece in split_words(reply.content, reply.chunks)]
        finish_reason = reply.finish_reason
    if not finish:
        return chunks
    chunks.append(_chunk(ctx, {}, finish_reason))
    if ctx.include_usage:
        final = _chunk(ctx, {})
        final["choices"] = []
        final["usage"] = ctx.usage.to_dict()
        chunks.append(final)
    return chunks


def sse(chunk: dict[str, Any]) -> str:
    """One SSE event; the stream ends with `SSE_DONE`."""
    return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"


def split_words(text: str, parts: int) -> list[str]:
    """Split into at most `parts` pieces on word boundaries; ''.join(result) == text."""
    if not text:
        return []
    pieces = re.findall(r"\S+\s*", text)
    if not pieces:
        return [text]
    pieces[0] = text[: len(text) - len(text.lstrip())] + pieces[0]  # leading whitespace
    return _group(pieces, parts)


def split_chars(text: str, parts: int) -> list[str]:
    return _group(list(text), parts) if text else [""]


def _group(pieces: list[str], parts: int) -> list[str]:
    parts = max(1, min(parts, len(pieces)))
    size, extra = divmod(len(pieces), parts)
    groups: list[str] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        groups.append("".join(pieces[start:end]))
        start = end
    return groups


def reply_words(reply: TextReply | ToolCallReply) -> int:
    if isinstance(reply, TextReply):
        return len(reply.content.split())
    return sum(len(f"{call.name} {call.arguments_json}".split()) for call in reply.calls)


# --------------------------------------------------------------------------- responses


def error_response(status: int, message: str, type_: str, *, code: str | None = None, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}}, status_code=status)


def not_found_response(method: str, path: str) -> JSONResponse:
    return error_response(404, f"Invalid URL ({method} {path})", "invalid_request_error")


def parse_json(raw: bytes) -> Any:
    """The parsed body; None when absent or malformed."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def chat_body_error(raw: bytes, body: Any) -> JSONResponse | None:
    """The 400 the real API sends for this chat request body, or None when it is usable."""
    return body_error(raw, body, {"model": str, "messages": list})


def body_error(raw: bytes, body: Any, required: Mapping[str, type | tuple[type, ...]]) -> JSONResponse | None:
    """The 400 the real API sends for a body that is not a JSON object or lacks a `required`
    parameter (name -> the type(s) it must have), or None."""
    if raw and body is None:
        message = "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload."
        return error_response(400, message, "invalid_request_error")
    if not isinstance(body, dict):
        return error_response(400, "Request body must be a JSON object.", "invalid_request_error")
    for name, kind in required.items():
        if not isinstance(body.get(name), kind):
            message = f"Missing required parameter: '{name}'."
            return error_response(400, message, "invalid_request_error", code="missing_required_parameter", param=name)
    return None


def json_response(reply_id: str, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"x-request-id": f"req_{reply_id}"})


def completion_response(ctx: Completion, reply: TextReply | ToolCallReply) -> JSONResponse:
    return json_response(ctx.id, completion(ctx, reply))


def chat_frames(ctx: Completion, reply: TextReply | ToolCallReply, *, finish: bool = True) -> list[Frame]:
    """The SSE frames of a streamed reply, ``data: [DONE]`` last (``finish=False``: see `stream_chunks`)."""
    frames = [Frame(sse(chunk), paced=True) for chunk in stream_chunks(ctx, reply, finish=finish)]
    return [*frames, Frame(SSE_DONE, paced=False)] if finish else frames


def sse_response(reply_id: str, frames: AsyncIterator[str]) -> StreamingResponse:
    headers = {"x-request-id": f"req_{reply_id}", "cache-control": "no-cache"}
    return StreamingResponse(frames, media_type="text/event-stream", headers=headers)


def models_response(names: Sequence[str], owned_by: str) -> JSONResponse:
    data = [{"id": name, "object": "model", "created": 0, "owned_by": owned_by} for name in names]
    return JSONResponse({"object": "list", "data": data})


# ------------------------------------------------------------------------------ endpoints


@dataclass(frozen=True)
class Built:
    """One reply built for an endpoint: its id, then its unary response or its SSE frames
    (only one of the two is ever asked for)."""

    id: str
    unary: Callable[[], JSONResponse]
    frames: Callable[[], list[Frame]]


@dataclass(frozen=True)
class WireApi:
    """One endpoint's wire, for servers that answer it: how a body is checked, how it reads as
    a chat body (what the demo model's reply policy takes), and how a reply is built
    (``build(body, reply, reply_id, finish)``; ``finish=False``: a stream that never ends)."""

    path: str
    id_prefix: str  # of reply ids, e.g. "chatcmpl-"
    body_error: Callable[[bytes, Any], JSONResponse | None]
    chat_view: Callable[[dict[str, Any]], dict[str, Any]]
    build: Callable[[dict[str, Any], TextReply | ToolCallReply, str, bool], Built]


def _build_chat(body: dict[str, Any], reply: TextReply | ToolCallReply, reply_id: str, finish: bool) -> Built:
    ctx = Completion.of(body, reply, reply_id)
    return Built(ctx.id, lambda: completion_response(ctx, reply), lambda: chat_frames(ctx, reply, finish=finish))


def _as_is(body: dict[str, Any]) -> dict[str, Any]:
    return body


CHAT_API = WireApi(CHAT_PATH, "chatcmpl-", chat_body_error, _as_is, _build_chat)
