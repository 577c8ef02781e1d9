"""Run a drop-in SDK agent with ``Runner.run_streamed`` and translate its stream into events.

The SDK stays authoritative: the agent's own tools, handoffs, guardrails, hooks and
``output_type`` run as the SDK runs them. The gateway adds only the model provider
(routing), model settings from the request, and the translation below.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agents import Agent, ModelSettings, RunConfig, RunHooks, RunItem, Runner, RunState, TResponseInputItem
from agents import Usage as SdkUsage
from agents.items import HandoffOutputItem, ToolCallItem, ToolCallOutputItem
from agents.stream_events import AgentUpdatedStreamEvent, RawResponsesStreamEvent, RunItemStreamEvent
from pydantic import BaseModel

from services.errors import invalid_argument
from services.executor.approvals import RunApprovals, paused_run
from services.executor.client_tools import StoppedForClientTools, client_tools_for
from services.executor.conversation import to_sdk_items
from services.executor.events import (
    ChatInput,
    Event,
    FinalOutput,
    Handoff,
    TextDelta,
    ToolCalled,
    ToolOutput,
    Usage,
)
from services.executor.output_schema import agent_for_request
from services.executor.routing import UpstreamModelProvider
from services.executor.tracing import RunTracing
from services.executor.upstream_models import record_finish_reasons
from services.tools.timings import tool_duration
from services.vocabulary import FINISH_REASON, FinishReason, ToolSource

__all__ = ["final_finish_reason", "final_text", "model_settings_for", "refuse_chat_only_sampling", "run_sdk_agent"]

DEFAULT_MAX_TURNS = 10


def model_settings_for(request: ChatInput) -> ModelSettings:
    """Request parameters the SDK can honour. Others are accepted and ignored (docs/api.md)."""
    s = request.sampling
    extra: dict[str, Any] = {}
    for name in ("seed", "stop"):
        if s.get(name) not in (None, []):
            extra[name] = s[name]
    return ModelSettings(
        temperature=s.get("temperature"),
        top_p=s.get("top_p"),
        max_tokens=s.get("max_tokens"),
        presence_penalty=s.get("presence_penalty"),
        frequency_penalty=s.get("frequency_penalty"),
        parallel_tool_calls=s.get("parallel_tool_calls"),
        tool_choice=_tool_choice(request),
        include_usage=True,
        extra_args=extra or None,
    )


# Chat Completions sampling fields the Responses API has no field for: OpenAI answers each with
# 400 "Unknown parameter" (and the SDK's Responses model would drop the penalties unsaid).
_NOT_IN_RESPONSES = ("seed", "stop", "presence_penalty", "frequency_penalty")


def refuse_chat_only_sampling(request: ChatInput, provider: UpstreamModelProvider) -> None:
    """On a Responses upstream, a 400 naming the first parameter it cannot take, rather than
    an upstream 400 (or a parameter quietly not applied)."""
    upstream = provider.upstream
    if not upstream.config.speaks_responses:
        return
    for name in _NOT_IN_RESPONSES:
        if request.sampling.get(name) not in (None, []):
            raise invalid_argument(
                f"{name!r} is not supported by model {request.model_id!r}: its upstream {upstream.name!r} speaks the Responses API, which has no such parameter",
                name,
            )


def _tool_choice(request: ChatInput) -> str | None:
    """OpenAI's ``tool_choice`` as the SDK takes it: a mode, or the name of the tool to force.
    The SDK resets it after a tool call (``Agent.reset_tool_choice``), so ``required`` cannot loop."""
    choice = request.tool_choice
    if choice is None or isinstance(choice, str):
        return choice
    return str(choice["function"]["name"])


async def run_sdk_agent(
    agent: Agent[Any],
    request: ChatInput,
    provider: UpstreamModelProvider,
    max_turns: int | None,
    trace: RunTracing,
    model_id: str,
    sources: dict[str, ToolSource] | None = None,
    servers: Mapping[str, str] | None = None,
    *,
    streaming: bool,
    context: Any = None,
    hooks: RunHooks[Any] | None = None,
    approvals: RunApprovals | None = None,
) -> AsyncIterator[Event]:
    refuse_chat_only_sampling(request, provider)
    agent = agent_for_request(agent, request)  # the client's response_format, if any
    client = client_tools_for(agent, request, sources)  # None unless the client sent tools
    if client is not None:
        agent = client.agent(agent)
    run_config = _run_config(provider, request, trace, model_id)
    finishes = record_finish_reasons()
    resumed = await approvals.start_state(agent, context) if approvals is not None else None
    # A resumed run continues its saved state (its history in it); a continued conversation
    # runs as the SDK runs an agent with memory: the history from the session, the turn after it.
    session = request.session if resumed is None else None
    items: list[TResponseInputItem] | RunState[Any, Agent[Any]]
    if resumed is not None:
        items = resumed
    elif session is not None:
        turn = to_sdk_items(request.messages[session.message_count :])
        session.start_turn(turn)
        items = turn
    else:
        items = to_sdk_items(request.messages)
    turns = max_turns or DEFAULT_MAX_TURNS
    translate = _ItemTranslator(sources, client.names if client is not None else frozenset(), servers)
    if not streaming:
        # Unary callers need no deltas: a plain run (non-streaming upstream calls) is much
        # cheaper than a streamed one; tool and handoff events come from the run's items.
        try:
            done = await Runner.run(agent, items, context=context, run_config=run_config, max_turns=turns, hooks=hooks, session=session)
        except StoppedForClientTools as stop:  # a handoff beside client calls (client_tools.py)
            assert client is not None
            yield _usage(stop.context.usage)
            yield client.final_output([], stop.agent)
            return
        for item in done.new_items:
            event = translate(item)
            if event is not None:
                yield event
        if done.interruptions:  # paused for a human approval (needs_approval)
            for event in await paused_run(approvals, done, sources, model_id):
                yield event
            return
        if client is not None and client.stopped:
            yield _usage(done.context_wrapper.usage)
            yield client.final_output(done.raw_responses, done.last_agent.name)
            return
        text, structured = final_text(done.final_output, done.last_agent)
        if text:
            yield TextDelta(text, done.last_agent.name)
        yield _usage(done.context_wrapper.usage)
        yield FinalOutput(text, done.last_agent.name, final_finish_reason(finishes), structured)
        return
    result = Runner.run_streamed(agent, items, context=context, run_config=run_config, max_turns=turns, hooks=hooks, session=session)
    current = agent.name
    streamed_text = False
    try:
        async for stream_event in result.stream_events():
            if isinstance(stream_event, RawResponsesStreamEvent):
                if stream_event.data.type == "response.output_text.delta" and stream_event.data.delta:
                    streamed_text = True
                    yield TextDelta(stream_event.data.delta, current)
                elif client is not None and (delta := client.stream_delta(stream_event.data)) is not None:
                    yield delta
            elif isinstance(stream_event, AgentUpdatedStreamEvent):
                current = stream_event.new_agent.name
            elif isinstance(stream_event, RunItemStreamEvent):
                event = translate(stream_event.item)
                if event is not None:
                    yield event
    except StoppedForClientTools:
        pass  # a handoff beside client calls: client.stopped says so (client_tools.py)
    finally:
        if not result.is_complete:
            # The consumer went away (cancel, timeout, error): stop the run and its upstream call.
            result.cancel()
    if result.interruptions:
        for event in await paused_run(approvals, result, sources, model_id):
            yield event
        return
    last_agent = result.last_agent
    if client is not None and client.stopped:
        yield _usage(result.context_wrapper.usage)
        yield client.final_output(result.raw_responses, last_agent.name)
        return
    text, structured = final_text(result.final_output, last_agent)
    if not streamed_text and text:
        yield TextDelta(text, last_agent.name)
    yield _usage(result.context_wrapper.usage)
    yield FinalOutput(text, last_agent.name, final_finish_reason(finishes), structured)


def final_finish_reason(finishes: list[str]) -> FinishReason:
    """The last model call's finish reason (``length`` when the reply was cut). ``tool_calls``
    becomes ``stop``: the agent's tools ran inside the gateway, the client has nothing to run."""
    last = FINISH_REASON.parse(finishes[-1]) if finishes else None
    return "stop" if last in (None, "tool_calls", "approval_required") else last


def _usage(usage: SdkUsage) -> Usage:
    return Usage(usage.input_tokens, usage.output_tokens)


class _ItemTranslator:
    """SDK run items -> tool and handoff events (the same for streamed and plain runs)."""

    def __init__(self, sources: dict[str, ToolSource] | None, client_tools: frozenset[str] = frozenset(), servers: Mapping[str, str] | None = None) -> None:
        self._sources = sources
        self._servers = servers or {}
        # Their calls go to the client as tool_calls; they are not tools run here, nor is their placeholder output.
        self._client_tools = client_tools
        self._client_calls: set[str] = set()
        self._pending: dict[str, tuple[str, float, str]] = {}  # call_id -> (tool name, when it was seen, MCP server)

    def __call__(self, item: RunItem) -> Event | None:
        agent = getattr(getattr(item, "agent", None), "name", "")
        if isinstance(item, ToolCallItem):
            raw = _as_dict(item.raw_item)
            # A hosted tool's call (web_search_call...) has no name or arguments: its item type and action stand in.
            call_id, name = str(raw.get("call_id") or raw.get("id") or ""), str(raw.get("name") or raw.get("type") or "")
            arguments = raw.get("arguments") or (json.dumps(raw["action"], default=_json_default) if raw.get("action") else "")
            if name in self._client_tools:
                self._client_calls.add(call_id)
                return None
            # A hosted MCP call (the upstream's own) names its server; tools of MCP servers run here are looked up.
            server = str(raw.get("server_label") or self._servers.get(name, ""))
            self._pending[call_id] = (name, time.perf_counter(), server)
            return ToolCalled(call_id, name, str(arguments), agent, _source(raw, name, self._sources), server)
        if isinstance(item, ToolCallOutputItem):
            raw = _as_dict(item.raw_item)
            call_id = str(raw.get("call_id") or "")
            if call_id in self._client_calls:
                return None
            name, seen, server = self._pending.pop(call_id, ("", time.perf_counter(), ""))
            duration = tool_duration(call_id)
            if duration is None:
                duration = time.perf_counter() - seen
            return ToolOutput(call_id, name, _text(item.output), agent, _source(raw, name, self._sources), duration, server)
        if isinstance(item, HandoffOutputItem):
            return Handoff(item.source_agent.name, item.target_agent.name)
        return None


_RUN_CONFIGS: dict[tuple[Any, ...], RunConfig] = {}
_MAX_CACHED_CONFIGS = 512


def _run_config(provider: UpstreamModelProvider, request: ChatInput, trace: RunTracing, model_id: str) -> RunConfig:
    """One ``RunConfig`` per (provider, sampling, model) — built once, reused by later runs.

    Building one with ``model_settings`` costs ~0.7 ms (the SDK coerces the settings), which
    is a large share of the gateway's own budget per request; the config is never mutated.
    """
    sampling = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in request.sampling.items()))
    key = (id(provider), sampling, _tool_choice(request), trace, model_id)
    config = _RUN_CONFIGS.get(key)
    if config is None:
        if len(_RUN_CONFIGS) >= _MAX_CACHED_CONFIGS:
            _RUN_CONFIGS.clear()
        config = RunConfig(
            model_provider=provider,
            model_settings=model_settings_for(request),
            tracing_disabled=not trace.enabled,
            trace_include_sensitive_data=trace.include_sensitive,
            workflow_name=f"agent-gateway {model_id}",
        )
        _RUN_CONFIGS[key] = config
    return config


def final_text(output: object, agent: Agent[Any] | None = None) -> tuple[str, bool]:
    """The reply text; structured outputs (``output_type``) become JSON text."""
    structured = agent is not None and agent.output_type not in (None, str)
    if isinstance(output, str):
        return output, structured
    if isinstance(output, BaseModel):
        return output.model_dump_json(), True
    if output is None:
        return "", structured
    return json.dumps(output, default=_json_default), True


def _json_default(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _as_dict(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, BaseModel):
        return raw.model_dump()
    return {k: getattr(raw, k) for k in ("call_id", "id", "name", "arguments", "type") if hasattr(raw, k)}


def _is_text_part(part: object) -> bool:
    return (isinstance(part, dict) and part.get("type") == "text") or (isinstance(part, BaseModel) and getattr(part, "type", None) == "text")


def _source(raw: dict[str, Any], name: str, sources: dict[str, ToolSource] | None) -> ToolSource:
    if str(raw.get("type", "")).startswith("mcp"):
        return "mcp"
    return (sources or {}).get(name, "sdk")


def _text(output: object) -> str:
    """Tool output as text: plain strings, the SDK's text outputs (MCP results arrive as
    ``{"type": "text", "text": ...}``, possibly several), anything else as JSON."""
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel) and getattr(output, "type", None) == "text":
        return str(getattr(output, "text", ""))
    if isinstance(output, dict) and output.get("type") == "text":
        return str(output.get("text", ""))
    if isinstance(output, list) and output and all(_is_text_part(p) for p in output):
        return "".join(_text(p) for p in output)
    try:
        return json.dumps(output, default=_json_default)
    except (TypeError, ValueError):
        return str(output)
