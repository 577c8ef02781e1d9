"""Declarative agents: the upstream's chat completions, streamed straight through, with the
gateway's own tool loop. Requests and chunks travel as JSON dicts over a lean HTTP client
(chat_http.py), not the openai client's models.

The agent's instructions become a leading system message. Tools the *client* sends are
forwarded and the upstream's calls of them go back to the client with OpenAI semantics (the
client runs them) — what lets client-side agent frameworks use the gateway as a model.
Gateway tools named in ``agents.yaml`` are offered too; their calls run here, through the
tool runtime (allowlist, audit, deadline), their results go back upstream, and the loop
continues for up to ``max_tool_hops`` rounds. Text deltas stream as they come throughout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
)
from openai.types.chat.chat_completion_message_function_tool_call_param import Function
from openai.types.shared_params import FunctionDefinition

from services.errors import GatewayError
from services.executor.chat_http import ChatHTTP
from services.executor.events import ChatInput, Event, FinalOutput, TextDelta, ToolCallDelta, ToolCalled, ToolOutput, Usage
from services.executor.failures import cut_stream
from services.registry.catalog import AgentEntry
from services.tools.runtime import ToolRuntime
from services.upstreams import Upstream
from services.vocabulary import FINISH_REASON

__all__ = ["run_passthrough"]

# Rare OpenAI fields that are safe to forward. Anything that could redirect traffic or
# credentials (base URLs, headers, keys) is never forwarded.
_FORWARDED_EXTRA = {"logprobs", "top_logprobs", "logit_bias", "metadata", "service_tier", "verbosity", "prediction", "modalities"}


async def run_passthrough(request: ChatInput, upstream: Upstream, entry: AgentEntry, tools: ToolRuntime | None, *, streaming: bool) -> AsyncIterator[Event]:
    # OpenAI chat message dicts (codec._message builds them from the proto), sent upstream as they are.
    messages = cast(list[ChatCompletionMessageParam], list(request.messages))
    if entry.instructions:
        messages.insert(0, ChatCompletionSystemMessageParam(role="system", content=entry.instructions))
    gateway_tools = _gateway_tool_schemas(entry, tools)
    client_tool_names = {t["function"]["name"] for t in request.tools}
    params: dict[str, Any] = {k: v for k, v in request.sampling.items() if k != "n" and v not in (None, [])}
    offered = [*request.tools, *gateway_tools]
    if offered:
        params["tools"] = offered
        if request.tool_choice is not None:
            params["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        params["response_format"] = request.response_format
    if request.user:
        params["user"] = request.user
    extra_body = {k: v for k, v in request.extra.items() if k in _FORWARDED_EXTRA}
    model = entry.upstream_model or upstream.config.model or "default"
    usage: Usage | None = None  # summed over the tool rounds; None if the upstream reported none
    text: list[str] = []

    http = ChatHTTP(upstream, entry.id)
    for hop in range(entry.max_tool_hops + 1):
        turn = _Turn(client_tool_names, entry.agent_name)
        body = {"model": model, "messages": messages, **extra_body, **params}
        if streaming:
            body["stream_options"] = {"include_usage": True}
            async for chunk in http.chunks(body):
                for event in turn.feed(chunk):
                    yield event
            if turn.finish is None:
                raise cut_stream(entry.id, upstream.name)  # no finish reason: cut (or a server that never says why)
        else:
            # Unary callers: one non-streaming upstream call per round (cheaper than a stream).
            for event in turn.feed_message(await http.complete(body)):
                yield event
        text.append(turn.text)
        if turn.usage is not None:
            usage = turn.usage if usage is None else usage + turn.usage

        gateway_calls = turn.gateway_calls()
        if not gateway_calls or turn.client_calls():
            # Nothing for the gateway to run (or the client must act): the turn's answer is final.
            if usage is not None:
                yield usage
            finish = FINISH_REASON.parse(turn.finish) or ("tool_calls" if turn.client_calls() else "stop")
            yield FinalOutput("".join(text), entry.agent_name, finish, False, tuple(turn.client_calls()))
            return
        if hop == entry.max_tool_hops:
            raise GatewayError(
                "INTERNAL",
                "MAX_TOOL_HOPS_EXCEEDED",
                f"agent {entry.id!r} still wanted tools after {entry.max_tool_hops} tool rounds (max_tool_hops)",
                {"max_tool_hops": str(entry.max_tool_hops)},
            )
        assert tools is not None  # gateway calls only exist when gateway tools were offered
        messages.append(ChatCompletionAssistantMessageParam(role="assistant", content=turn.text or None, tool_calls=gateway_calls))
        for call in gateway_calls:
            fn = call["function"]
            yield ToolCalled(call["id"], fn["name"], fn["arguments"], entry.agent_name, "gateway", tools.mcp_server(fn["name"]))
        # Parallel calls of one turn run concurrently, each under the tool's own deadline.
        results = await asyncio.gather(*(tools.invoke_for_model(c["function"]["name"], c["function"]["arguments"], source="gateway") for c in gateway_calls))
        for call, result in zip(gateway_calls, results, strict=True):
            name = call["function"]["name"]
            yield ToolOutput(call["id"], name, result.output, entry.agent_name, "gateway", result.duration_s, tools.mcp_server(name))
            messages.append(ChatCompletionToolMessageParam(role="tool", tool_call_id=call["id"], content=result.output))


def _gateway_tool_schemas(entry: AgentEntry, tools: ToolRuntime | None) -> list[ChatCompletionFunctionToolParam]:
    if not entry.tools:
        return []
    if tools is None:
        raise GatewayError("FAILED_PRECONDITION", "TOOLS_UNAVAILABLE", f"agent {entry.id!r} uses gateway tools but no tools catalogue is loaded")
    schemas = []
    for name in entry.tools:
        spec = tools.catalog.get(name)
        if spec is None:
            raise GatewayError("FAILED_PRECONDITION", "TOOL_NOT_FOUND", f"agent {entry.id!r} names the tool {name!r}, which is not in tools.yaml")
        function = FunctionDefinition(name=spec.name, description=spec.description, parameters=spec.parameters)
        schemas.append(ChatCompletionFunctionToolParam(type="function", function=function))
    return schemas


def _part(delta: dict[str, Any]) -> tuple[int, str, str, str]:
    """A tool call, or a streamed fragment of one: (index, id, name piece, arguments piece)."""
    function = delta.get("function") or {}
    return int(delta.get("index") or 0), str(delta.get("id") or ""), str(function.get("name") or ""), str(function.get("arguments") or "")


class _Turn:
    """One upstream response: forwards text and client-tool deltas, holds gateway-tool calls."""

    def __init__(self, client_tools: set[str], agent_name: str) -> None:
        self._client_tools = client_tools
        self._agent_name = agent_name
        self.usage: Usage | None = None
        self._calls: dict[int, ChatCompletionMessageFunctionToolCallParam] = {}
        self._client_index: dict[int, int] = {}  # upstream index -> index the client sees
        # Calls whose name is complete (their arguments began, a later call began, or the turn
        # ended) and that were classified as client or gateway calls.
        self._classified: set[int] = set()
        self.text = ""
        self.finish: str | None = None  # None until the upstream says why it stopped

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """One streamed chunk (parsed JSON, as the upstream sent it)."""
        self._add_usage(chunk.get("usage"))
        events: list[Event] = []
        for choice in (chunk.get("choices") or ())[:1]:
            delta = choice.get("delta") or {}
            parts = [_part(p) for p in delta.get("tool_calls") or ()]
            events += self._take(delta.get("content"), parts, choice.get("finish_reason"))
        return events

    def feed_message(self, response: dict[str, Any]) -> list[Event]:
        """A whole (non-streamed) completion: one big delta, so the same events a stream gives."""
        self._add_usage(response.get("usage"))
        events: list[Event] = []
        for choice in (response.get("choices") or ())[:1]:
            message = choice.get("message") or {}
            calls = [c for c in message.get("tool_calls") or () if c.get("type", "function") == "function"]  # we only offer function tools
            parts = [_part({**c, "index": i}) for i, c in enumerate(calls)]
            events += self._take(message.get("content"), parts, choice.get("finish_reason"))
        return events

    def _add_usage(self, usage: dict[str, Any] | None) -> None:
        if usage:
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))

    def _take(self, content: str | None, parts: list[tuple[int, str, str, str]], finish_reason: str | None) -> list[Event]:
        events: list[Event] = []
        if content:
            self.text += content
            events.append(TextDelta(content, self._agent_name))
        for index, call_id, name, args in parts:
            call = self._calls.setdefault(index, ChatCompletionMessageFunctionToolCallParam(id="", type="function", function=Function(name="", arguments="")))
            call["id"] = call["id"] or call_id
            call["function"]["name"] += name
            call["function"]["arguments"] += args
            if index in self._client_index:  # already announced to the client: stream on
                events.append(ToolCallDelta(self._client_index[index], call_id, name, args))
        # A name may arrive in pieces, and a client tool's name may be the start of a gateway
        # tool's (``lookup`` / ``lookup_ticket``): classify a call only once its name is whole.
        started = {index for index, _, _, args in parts if args}
        latest = max(self._calls, default=-1)
        whole = set(self._calls) if finish_reason else started | {i for i in self._calls if i < latest}
        for index in sorted(whole - self._classified):
            self._classified.add(index)
            call = self._calls[index]
            if self._is_client(call):
                # The client's first fragment carries all held so far (id, whole name, arguments).
                self._client_index[index] = len(self._client_index)
                events.append(ToolCallDelta(self._client_index[index], call["id"], call["function"]["name"], call["function"]["arguments"]))
        if finish_reason:
            self.finish = finish_reason
        return events

    def _is_client(self, call: ChatCompletionMessageFunctionToolCallParam) -> bool:
        return call["function"]["name"] in self._client_tools

    def client_calls(self) -> list[ChatCompletionMessageFunctionToolCallParam]:
        return [self._calls[i] for i in sorted(self._calls) if self._is_client(self._calls[i])]

    def gateway_calls(self) -> list[ChatCompletionMessageFunctionToolCallParam]:
        return [self._calls[i] for i in sorted(self._calls) if not self._is_client(self._calls[i])]
