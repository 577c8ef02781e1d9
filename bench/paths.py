"""The client side of each path, as run inside the load generator (``bench.loadgen``).

A call performs one request, checks that the reply is the demo upstream's echo (so a path
that "succeeds" with the wrong answer fails loudly) and returns ``(first, chunks)``: the
``perf_counter()`` of the first content delta (``None`` for unary calls) and the number of
content deltas received.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
from agents import Agent, RunConfig, Runner
from agents.stream_events import RawResponsesStreamEvent
from openai import AsyncOpenAI

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from bench.matrix import responses_body
from bench.prompts import LONG_PROMPT, SHORT_PROMPT, expected
from bench.rawhttp import Pool, Reply, ResponsesStreamReply, StreamReply, UnaryReply
from services.executor.routing import UpstreamModelProvider
from services.upstream_http import UpstreamHTTP
from services.upstreams import Upstream, UpstreamConfig

__all__ = [
    "LONG_PROMPT",
    "SHORT_PROMPT",
    "Call",
    "WrongReply",
    "expected",
    "grpc_call",
    "load_agent",
    "responses_call",
    "rest_call",
    "rest_call_httpx",
    "sdk_call",
]

Call = Callable[[], Awaitable[tuple[float | None, int]]]


class WrongReply(AssertionError):
    pass


def _check(text: str | None, expect: str) -> None:
    if text != expect:
        raise WrongReply(f"unexpected reply {text!r}")


# ----------------------------------------------------------------- OpenAI REST (raw HTTP)


def rest_call(pool: Pool, model: str, messages: list[dict[str, Any]], expect: str, *, stream: bool) -> Call:
    """``POST /chat/completions`` over ``bench.rawhttp``: raw HTTP/1.1 on kept-alive
    connections, the SSE stream parsed as it arrives (the default client)."""
    body = json.dumps({"model": model, "messages": messages, "stream": stream}).encode()
    headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
    request = pool.request("/chat/completions", body, headers)

    def failed(reply: Reply) -> RuntimeError:
        return RuntimeError(f"HTTP {reply.status}: {bytes(reply.body[:200])!r}")

    async def unary() -> tuple[float | None, int]:
        reply = await pool.send(request, UnaryReply)
        if reply.status != 200:
            raise failed(reply)
        assert isinstance(reply, UnaryReply)
        _check(reply.json()["choices"][0]["message"]["content"], expect)
        return None, 0

    async def streamed() -> tuple[float | None, int]:
        reply = await pool.send(request, StreamReply)
        assert isinstance(reply, StreamReply)
        if reply.status != 200:
            raise failed(reply)
        if not reply.streaming:
            raise RuntimeError(f"not an event stream ({reply.headers.get('content-type')!r}): {bytes(reply.body[:200])!r}")
        if reply.error:
            raise RuntimeError(reply.error)
        _check(reply.text, expect)
        return reply.first, len(reply.parts)

    return streamed if stream else unary


def responses_call(pool: Pool, model: str, messages: list[dict[str, Any]], expect: str, *, stream: bool) -> Call:
    """``POST /responses`` over ``bench.rawhttp``: the same turn as ``rest_call``; the stream's
    first content is its first ``response.output_text.delta``."""
    body = json.dumps(responses_body(model, messages, stream=stream)).encode()
    headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
    request = pool.request("/responses", body, headers)

    async def unary() -> tuple[float | None, int]:
        reply = await pool.send(request, UnaryReply)
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}: {bytes(reply.body[:200])!r}")
        assert isinstance(reply, UnaryReply)
        output = reply.json()["output"]
        _check("".join(p["text"] for item in output if item["type"] == "message" for p in item["content"]), expect)
        return None, 0

    async def streamed() -> tuple[float | None, int]:
        reply = await pool.send(request, ResponsesStreamReply)
        assert isinstance(reply, ResponsesStreamReply)
        if reply.status != 200 or not reply.streaming:
            raise RuntimeError(f"HTTP {reply.status}: {bytes(reply.body[:200])!r}")
        if reply.error or not reply.done:
            raise RuntimeError(reply.error or "the stream ended without response.completed")
        _check(reply.text, expect)
        return reply.first, len(reply.parts)

    return streamed if stream else unary


def rest_call_httpx(http: httpx.AsyncClient, model: str, messages: list[dict[str, Any]], expect: str, *, stream: bool) -> Call:
    """The same over httpx (``bench.run --sse-client httpx``): for comparison, since httpx's own
    CPU per chunk is in every TTFT it measures."""
    body = json.dumps({"model": model, "messages": messages, "stream": stream}).encode()
    headers = {"content-type": "application/json"}

    async def unary() -> tuple[float | None, int]:
        response = await http.post("/chat/completions", content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        _check(response.json()["choices"][0]["message"]["content"], expect)
        return None, 0

    async def streamed() -> tuple[float | None, int]:
        first: float | None = None
        parts: list[str] = []
        async with http.stream("POST", "/chat/completions", content=body, headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    raise RuntimeError(f"stream error: {chunk['error']}")
                choices = chunk.get("choices") or ()
                content = choices[0].get("delta", {}).get("content") if choices else None
                if content:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(content)
        _check("".join(parts), expect)
        return first, len(parts)

    return streamed if stream else unary


# ---------------------------------------------------------------------------- gRPC stub

_ROLES = {"system": pb.ROLE_SYSTEM, "user": pb.ROLE_USER}


def grpc_call(channel: grpc.aio.Channel, model: str, messages: list[dict[str, Any]], expect: str, key: str, *, stream: bool) -> Call:
    """Typed gRPC on one shared channel; the key goes in per-call metadata."""
    stub = ex_grpc.ExecutorServiceStub(channel)
    chat = pb.ChatRequest(model=model, messages=[pb.ChatMessage(role=_ROLES[m["role"]], content=m["content"]) for m in messages])
    unary_request = ex_pb.CreateChatCompletionRequest(chat=chat)
    stream_request = ex_pb.StreamChatCompletionRequest(chat=chat)
    metadata = (("authorization", f"Bearer {key}"),)

    async def unary() -> tuple[float | None, int]:
        reply = await stub.CreateChatCompletion(unary_request, metadata=metadata, timeout=60)
        _check(reply.message.content, expect)
        return None, 0

    async def streamed() -> tuple[float | None, int]:
        first: float | None = None
        parts: list[str] = []
        async for response in stub.StreamChatCompletion(stream_request, metadata=metadata, timeout=60):
            if response.event.WhichOneof("event") == "text_delta" and response.event.text_delta.text:
                if first is None:
                    first = time.perf_counter()
                parts.append(response.event.text_delta.text)
        _check("".join(parts), expect)
        return first, len(parts)

    return streamed if stream else unary


# --------------------------------------------------------------- SDK agent in-process


def load_agent(agent_file: Path, module_name: str = "_bench_agent") -> Agent[Any]:
    """Load a drop-in ``agent.py`` by file path under a private name (never ``agents.X``:
    ``agents`` is the SDK). Its folder is on ``sys.path`` while it loads, for helper modules."""
    spec = importlib.util.spec_from_file_location(module_name, agent_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {agent_file}")
    module = importlib.util.module_from_spec(spec)
    folder = str(agent_file.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    agent = getattr(module, "agent", None)
    if not isinstance(agent, Agent):
        raise TypeError(f"{agent_file} has no module-level `agent`")
    return agent


def sdk_call(agent: Agent[Any], client: AsyncOpenAI, base_url: str, messages: list[dict[str, Any]], expect: str, *, stream: bool) -> Call:
    """``Runner.run`` / ``Runner.run_streamed`` with the provider class the gateway uses."""
    config = UpstreamConfig(name="bench", base_url=base_url, model="fake-model", max_retries=0)
    run_config = RunConfig(
        model_provider=UpstreamModelProvider(Upstream(config, client, UpstreamHTTP(base_url, timeout_s=60, max_connections=1, pool_timeout_s=1), {})),
        tracing_disabled=True,
    )
    items: list[Any] = list(messages)  # what the gateway hands the SDK

    async def unary() -> tuple[float | None, int]:
        result = await Runner.run(agent, items, run_config=run_config)
        _check(result.final_output, expect)
        return None, 0

    async def streamed() -> tuple[float | None, int]:
        first: float | None = None
        parts: list[str] = []
        result = Runner.run_streamed(agent, items, run_config=run_config)
        async for event in result.stream_events():
            if isinstance(event, RawResponsesStreamEvent) and event.data.type == "response.output_text.delta" and event.data.delta:
                if first is None:
                    first = time.perf_counter()
                parts.append(event.data.delta)
        _check("".join(parts), expect)
        return first, len(parts)

    return streamed if stream else unary
