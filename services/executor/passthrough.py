"""Declarative agents: the upstream's chat completions, streamed straight through.

The agent's instructions become a leading system message. Client-sent ``tools`` are
forwarded and the upstream's ``tool_calls`` go back to the client with OpenAI semantics
(the client runs them), which is what lets client-side agent frameworks use the gateway
as a model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from services.executor.events import ChatInput, Event, FinalOutput, TextDelta, ToolCallDelta, UsageReport
from services.upstreams import Upstream

__all__ = ["run_passthrough"]

# Rare OpenAI fields that are safe to forward. Anything that could redirect traffic or
# credentials (base URLs, headers, keys) is never forwarded.
_FORWARDED_EXTRA = {"logprobs", "top_logprobs", "logit_bias", "metadata", "service_tier", "verbosity", "prediction", "modalities"}


async def run_passthrough(
    request: ChatInput,
    upstream: Upstream,
    model: str | None,
    instructions: str | None,
    agent_name: str,
) -> AsyncIterator[Event]:
    messages = list(request.messages)
    if instructions:
        messages.insert(0, {"role": "system", "content": instructions})
    params: dict[str, Any] = {k: v for k, v in request.sampling.items() if k != "n" and v not in (None, [])}
    if request.tools:
        params["tools"] = request.tools
        if request.tool_choice is not None:
            params["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        params["response_format"] = request.response_format
    if request.user:
        params["user"] = request.user
    extra_body = {k: v for k, v in request.extra.items() if k in _FORWARDED_EXTRA}
    stream = await upstream.client.chat.completions.create(
        model=model or upstream.config.model or "default",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        extra_body=extra_body or None,
        **params,
    )
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = "stop"
    usage: UsageReport | None = None
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = UsageReport(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices[:1]:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                    yield TextDelta(delta.content, agent_name)
                for call in delta.tool_calls or ():
                    entry = calls.setdefault(call.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                    name = call.function.name if call.function and call.function.name else ""
                    args = call.function.arguments if call.function and call.function.arguments else ""
                    entry["id"] = entry["id"] or (call.id or "")
                    entry["function"]["name"] += name
                    entry["function"]["arguments"] += args
                    yield ToolCallDelta(call.index, call.id or "", name, args)
                if choice.finish_reason:
                    finish = choice.finish_reason
    finally:
        await stream.close()
    if usage is not None:
        yield usage
    if finish not in ("stop", "length", "tool_calls", "content_filter"):
        finish = "tool_calls" if calls else "stop"
    tool_calls = tuple(calls[i] for i in sorted(calls))
    yield FinalOutput("".join(text), agent_name, finish, False, tool_calls)  # type: ignore[arg-type]
