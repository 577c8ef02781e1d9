"""The request paths under test, each as a non-streaming and a streaming call.

Every call sends the same user prompt, checks that the reply is the fake upstream's demo
echo (so a path that "succeeds" with the wrong answer fails loudly), and for streaming
returns the ``perf_counter()`` of the first non-empty content delta.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from agents import Agent, RunConfig, Runner
from agents.stream_events import RawResponsesStreamEvent
from openai import AsyncOpenAI

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from bench.measure import Call
from services.executor.routing import UpstreamModelProvider
from services.upstreams import Upstream, UpstreamConfig

__all__ = [
    "EXPECTED",
    "PROMPT",
    "BenchPath",
    "grpc_path",
    "inprocess_provider",
    "inprocess_sdk_path",
    "load_agent",
    "openai_path",
    "unavailable_path",
]

# Must not mention the Weather agent's tool (`get_weather` / "get weather"): the demo
# upstream would answer with a tool call instead of text.
PROMPT = "Hello there, this is a short benchmark message, please reply in one line."
EXPECTED = f"You said: {PROMPT}"


@dataclass(frozen=True)
class BenchPath:
    key: str  # stable id, e.g. "sdk/rest"
    label: str  # human name for the report
    unary: Call
    stream: Call
    via_gateway: bool = False  # the gateway process's CPU use is measured for these
    unavailable: str = ""  # set when the path could not be set up: nothing is measured


async def _not_run() -> float | None:
    raise RuntimeError("path is unavailable")


def unavailable_path(key: str, label: str, reason: str) -> BenchPath:
    return BenchPath(key, label, _not_run, _not_run, unavailable=reason)


class WrongReply(AssertionError):
    pass


def _check(text: str | None) -> None:
    if text != EXPECTED:
        raise WrongReply(f"unexpected reply {text!r}")


# ------------------------------------------------------------------ OpenAI REST clients


def openai_path(key: str, label: str, client: AsyncOpenAI, model: str, messages: list[dict[str, Any]], *, via_gateway: bool) -> BenchPath:
    """The official client against an OpenAI-compatible ``/v1`` (gateway shim or upstream)."""

    async def unary() -> float | None:
        reply = await client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
        _check(reply.choices[0].message.content)
        return None

    async def stream() -> float | None:
        first: float | None = None
        parts: list[str] = []
        chunks = await client.chat.completions.create(model=model, messages=messages, stream=True)  # type: ignore[arg-type]
        async for chunk in chunks:
            content = chunk.choices[0].delta.content if chunk.choices else None
            if content:
                if first is None:
                    first = time.perf_counter()
                parts.append(content)
        _check("".join(parts))
        return first

    return BenchPath(key, label, unary, stream, via_gateway)


# --------------------------------------------------------------------------- gRPC stub


def grpc_path(key: str, label: str, stub: ex_grpc.ExecutorServiceStub, model: str, api_key: str | None) -> BenchPath:
    """Typed gRPC; the API key goes in per-call metadata (no client interceptor to pay for)."""
    chat = pb.ChatRequest(model=model, messages=[pb.ChatMessage(role=pb.ROLE_USER, content=PROMPT)])
    unary_request = ex_pb.CreateChatCompletionRequest(chat=chat)
    stream_request = ex_pb.StreamChatCompletionRequest(chat=chat)
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()

    async def unary() -> float | None:
        reply = await stub.CreateChatCompletion(unary_request, metadata=metadata, timeout=30)
        _check(reply.message.content)
        return None

    async def stream() -> float | None:
        first: float | None = None
        parts: list[str] = []
        async for response in stub.StreamChatCompletion(stream_request, metadata=metadata, timeout=30):
            if response.event.WhichOneof("event") == "text_delta" and response.event.text_delta.text:
                if first is None:
                    first = time.perf_counter()
                parts.append(response.event.text_delta.text)
        _check("".join(parts))
        return first

    return BenchPath(key, label, unary, stream, via_gateway=True)


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


def inprocess_provider(base_url: str, client: AsyncOpenAI) -> UpstreamModelProvider:
    """The provider the gateway itself builds for an SDK agent, bound to ``client``."""
    config = UpstreamConfig(name="bench", base_url=base_url, model="fake-model", max_retries=0)
    # SDK agents use only the openai client; the lean passthrough client is not needed here.
    return UpstreamModelProvider(Upstream(config, client, httpx2.AsyncClient(), {}))


def inprocess_sdk_path(key: str, label: str, agent: Agent[Any], provider: UpstreamModelProvider) -> BenchPath:
    """``Runner.run`` / ``Runner.run_streamed`` in this process (no gateway)."""
    run_config = RunConfig(model_provider=provider, tracing_disabled=True)
    items: list[Any] = [{"role": "user", "content": PROMPT}]  # what the gateway hands the SDK

    async def unary() -> float | None:
        result = await Runner.run(agent, items, run_config=run_config)
        _check(result.final_output)
        return None

    async def stream() -> float | None:
        first: float | None = None
        parts: list[str] = []
        result = Runner.run_streamed(agent, items, run_config=run_config)
        async for event in result.stream_events():
            if isinstance(event, RawResponsesStreamEvent) and event.data.type == "response.output_text.delta" and event.data.delta:
                if first is None:
                    first = time.perf_counter()
                parts.append(event.data.delta)
        _check("".join(parts))
        return first

    return BenchPath(key, label, unary, stream)
