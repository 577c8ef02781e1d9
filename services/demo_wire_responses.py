"""Server-side OpenAI Responses API wire shapes (``POST /v1/responses``), for the demo model and
test fakes; the Chat Completions shapes are in `services.demo_wire`, with the replies both use.

A reply becomes a ``response`` object or an SSE stream as the official API sends them, in the
order the Agents SDK's ``OpenAIResponsesModel`` and the ``openai`` client read them:
``response.created``, ``response.in_progress``, then per output item ``output_item.added``,
its own events (text: ``content_part.added``, ``output_text.delta``…, ``output_text.done``,
``content_part.done``; function calls: ``function_call_arguments.delta``…/``.done``; reasoning
summaries; web search progress), ``output_item.done``, and last ``response.completed`` (or
``response.incomplete`` for a reply cut short). Every event carries a ``sequence_number``
that grows by one, and its SSE ``event:`` line equals its ``type``; no ``[DONE]`` follows.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from services.demo_wire import (
    Built,
    Frame,
    TextReply,
    ToolCallReply,
    Usage,
    WireApi,
    body_error,
    error_response,
    json_response,
    message_text,
    reply_words,
    split_chars,
    split_words,
)

__all__ = [
    "RESPONSES_API",
    "RESPONSES_PATH",
    "Turn",
    "chat_view",
    "response_frames",
    "response_json",
    "response_object",
    "responses_body_error",
    "sse_event",
    "stream_events",
]

RESPONSES_PATH = "/v1/responses"

# What `POST /v1/responses` takes; OpenAI answers anything else with 400 "Unknown parameter"
# (Chat Completions names such as `seed`, `stop`, `max_tokens`, `messages` included).
_KNOWN_PARAMETERS = frozenset(
    {
        "background", "context_management", "conversation", "include", "input", "instructions", "max_output_tokens",
        "max_tool_calls", "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
        "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream", "stream_options",
        "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
    }
)  # fmt: skip
_MIN_OUTPUT_TOKENS = 16  # the API's floor for max_output_tokens
# Why a reply that is not `stop` ended, as `incomplete_details.reason`.
_INCOMPLETE_REASON = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Request fields the API echoes in every response object (with these defaults when unset).
_ECHOED: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "metadata": {},
}

Reply = TextReply | ToolCallReply


@dataclass
class Turn:
    """One response being built: its envelope, and the ids its items get in order."""

    id: str
    created_at: int
    model: str
    usage: Usage
    request: dict[str, Any]  # the validated body, for the echoed fields
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def of(cls, body: dict[str, Any], reply: Reply, response_id: str) -> Turn:
        """For a validated body (see `responses_body_error`); usage counts words unless the reply sets it."""
        prompt_words = len(message_text(body.get("instructions")).split()) + sum(
            len(message_text(m.get("content")).split()) for m in chat_view(body)["messages"]
        )
        usage = reply.usage or Usage(prompt_tokens=max(1, prompt_words), completion_tokens=max(1, reply_words(reply)))
        return cls(response_id, int(time.time()), body["model"], usage, body)

    def item_id(self, prefix: str) -> str:
        return f"{prefix}_{self.id.removeprefix('resp_')}_{next(self._counter)}"


# ------------------------------------------------------------------------------- requests


def responses_body_error(raw: bytes, body: Any) -> JSONResponse | None:
    """The 400 the real API sends for this request body, or None when it is usable."""
    error = body_error(raw, body, {"model": str, "input": (str, list)})
    if error is not None:
        return error
    for name in body:
        if name not in _KNOWN_PARAMETERS:
            return error_response(400, f"Unknown parameter: '{name}'.", "invalid_request_error", code="unknown_parameter", param=name)
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit < _MIN_OUTPUT_TOKENS:
        message = f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= {_MIN_OUTPUT_TOKENS}, but got {limit} instead."
        return error_response(400, message, "invalid_request_error", code="integer_below_min_value", param="max_output_tokens")
    return None


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """A validated Responses body as the Chat Completions body it amounts to (instructions,
    messages, function tools, tool_choice, a json_schema format), so one reply policy (the demo
    model's) answers both APIs."""
    raw_input = body["input"]
    items: list[Any] = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else raw_input
    messages: list[dict[str, Any]] = [{"role": "system", "content": body["instructions"]}] if isinstance(body.get("instructions"), str) else []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" and isinstance(item.get("role"), str):
            messages.append({"role": item["role"], "content": item.get("content")})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function", "function": {"name": item.get("name"), "arguments": item.get("arguments", "")}}
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output if isinstance(output, str | list) else json.dumps(output)})
    view: dict[str, Any] = {"model": body["model"], "messages": messages}
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    if tools:
        view["tools"] = [{"type": "function", "function": {k: t.get(k) for k in ("name", "description", "parameters")}} for t in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        view["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        view["tool_choice"] = choice
    text_format = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(text_format, dict) and text_format.get("type") == "json_schema":
        view["response_format"] = {"type": "json_schema", "json_schema": {"name": text_format.get("name"), "schema": text_format.get("schema")}}
    return view


# ---------------------------------------------------------------------------------- items


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _items(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    """The finished output items of `reply`, in order."""
    items: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        items.append({"id": turn.item_id("rs"), "type": "reasoning", "summary": [{"type": "summary_text", "text": reply.reasoning}]})
    if isinstance(reply, TextReply):
        if reply.web_search is not None:
            action = {"type": "search", "query": reply.web_search, "sources": None}
            items.append({"id": turn.item_id("ws"), "type": "web_search_call", "status": "completed", "action": action})
        status = "completed" if reply.finish_reason == "stop" else "incomplete"
        items.append({"id": turn.item_id("msg"), "type": "message", "status": status, "role": "assistant", "content": [_output_text(reply.content)]})
    else:
        for i, call in enumerate(reply.calls):
            call_id = call.id or f"call_{turn.id.removeprefix('resp_')}_{i}"
            items.append(
                {
                    "id": turn.item_id("fc"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call_id,
                    "name": call.name,
                    "arguments": call.arguments_json,
                }
            )
    return items


def response_object(turn: Turn, reply: Reply) -> dict[str, Any]:
    """The finished ``response`` object of a unary reply."""
    return _envelope(turn, reply, _items(turn, reply))


def _envelope(turn: Turn, reply: Reply | None, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``response`` object: finished (with `reply`'s status and usage), or in progress (None)."""
    finish = reply.finish_reason if isinstance(reply, TextReply) else "stop"
    status = "in_progress" if reply is None else "completed" if finish == "stop" else "incomplete"
    echoed = {name: turn.request.get(name, default) for name, default in _ECHOED.items()}
    return {
        "id": turn.id,
        "object": "response",
        "created_at": turn.created_at,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": _INCOMPLETE_REASON[finish]} if status == "incomplete" else None,
        "model": turn.model,
        "output": output if output is not None else [],
        "usage": turn.usage.to_responses_dict() if reply is not None else None,
        "user": turn.request.get("user"),
        **echoed,
    }


# ------------------------------------------------------------------------------- streaming


def stream_events(turn: Turn, reply: Reply, *, finish: bool = True) -> list[dict[str, Any]]:
    """The events of a streamed reply, numbered. ``finish=False`` stops before the terminal
    event (and the open items' closing events): a stream that never ends."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _envelope(turn, None)},
        {"type": "response.in_progress", "response": _envelope(turn, None)},
    ]
    items = _items(turn, reply)
    for index, item in enumerate(items):
        events += _item_events(index, item, reply, closing=finish)
    if finish:
        terminal = _envelope(turn, reply, items)
        events.append({"type": f"response.{terminal['status']}", "response": terminal})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _item_events(index: int, item: dict[str, Any], reply: Reply, *, closing: bool) -> list[dict[str, Any]]:
    at = {"item_id": item["id"], "output_index": index}
    kind = item["type"]
    events: list[dict[str, Any]] = []
    if kind == "message":
        text = item["content"][0]["text"]
        events.append({"type": "response.output_item.added", "output_index": index, "item": {**item, "status": "in_progress", "content": []}})
        events.append({"type": "response.content_part.added", **at, "content_index": 0, "part": _output_text("")})
        pieces = split_words(text, reply.chunks if isinstance(reply, TextReply) else 1)
        events += [{"type": "response.output_text.delta", **at, "content_index": 0, "delta": piece, "logprobs": []} for piece in pieces]
        if not closing:
            return events
        events.append({"type": "response.output_text.done", **at, "content_index": 0, "text": text, "logprobs": []})
        events.append({"type": "response.content_part.done", **at, "content_index": 0, "part": _output_text(text)})
    elif kind == "function_call":
        events.append({"type": "response.output_item.added", "output_index": index, "item": {**item, "status": "in_progress", "arguments": ""}})
        fragments = reply.fragments if isinstance(reply, ToolCallReply) else 2
        events += [{"type": "response.function_call_arguments.delta", **at, "delta": piece} for piece in split_chars(item["arguments"], max(2, fragments))]
        events.append({"type": "response.function_call_arguments.done", **at, "name": item["name"], "arguments": item["arguments"]})
    elif kind == "reasoning":
        summary = item["summary"][0]
        events.append({"type": "response.output_item.added", "output_index": index, "item": {**item, "summary": []}})
        events.append({"type": "response.reasoning_summary_part.added", **at, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
        events.append({"type": "response.reasoning_summary_text.delta", **at, "summary_index": 0, "delta": summary["text"]})
        events.append({"type": "response.reasoning_summary_text.done", **at, "summary_index": 0, "text": summary["text"]})
        events.append({"type": "response.reasoning_summary_part.done", **at, "summary_index": 0, "part": summary})
    elif kind == "web_search_call":
        events.append({"type": "response.output_item.added", "output_index": index, "item": {**item, "status": "in_progress"}})
        events += [{"type": f"response.web_search_call.{stage}", **at} for stage in ("in_progress", "searching", "completed")]
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def sse_event(event: dict[str, Any]) -> str:
    """One SSE event, named by its type as the API names them."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def response_frames(turn: Turn, reply: Reply, *, finish: bool = True) -> list[Frame]:
    """The SSE frames of a streamed reply (``finish=False``: see `stream_events`)."""
    return [Frame(sse_event(event), paced=event["type"].endswith(".delta")) for event in stream_events(turn, reply, finish=finish)]


def response_json(turn: Turn, reply: Reply) -> JSONResponse:
    return json_response(turn.id, response_object(turn, reply))


def _build(body: dict[str, Any], reply: Reply, reply_id: str, finish: bool) -> Built:
    turn = Turn.of(body, reply, reply_id)
    return Built(turn.id, lambda: response_json(turn, reply), lambda: response_frames(turn, reply, finish=finish))


RESPONSES_API = WireApi(RESPONSES_PATH, "resp_", responses_body_error, chat_view, _build)
