"""`agent-gateway demo-model` as a real subprocess, talked to with the official `openai` client:
what a newcomer's `make run` answers with when no upstream is configured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from openai import OpenAI
from pydantic import BaseModel

from tests.gateway_process import GATEWAY_BIN, REPO, free_port

CHUNK_DELAY = 0.01


@dataclass
class DemoModel:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def _start(port: int, log_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    env.update(GATEWAY_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    with log_path.open("ab") as log:
        return subprocess.Popen([str(GATEWAY_BIN), "demo-model", "--port", str(port), *extra], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoModel]:
    log_path = tmp_path_factory.mktemp("demo-model") / "demo.log"
    port = free_port()
    proc = _start(port, log_path, "--chunk-delay", str(CHUNK_DELAY))
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"demo-model exited with {proc.returncode}:\n{log_path.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"demo-model not ready:\n{log_path.read_text()}"
            time.sleep(0.05)
        yield DemoModel(proc, port, log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("demo-model ignored SIGTERM")
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the process ends by that signal.
    assert proc.returncode == -signal.SIGTERM


@pytest.fixture
def client(demo: DemoModel) -> Iterator[OpenAI]:
    with OpenAI(base_url=demo.base_url, api_key="unused", max_retries=0, timeout=10) as c:
        yield c


WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    },
}
HANDOFF_TOOL: Any = {"type": "function", "function": {"name": "transfer_to_billing_agent", "parameters": {"type": "object", "properties": {}}}}


def test_startup_is_logged_with_structured_fields(demo: DemoModel) -> None:
    records = [json.loads(line) for line in demo.log_lines() if line.startswith("{")]
    [started] = [r for r in records if r["msg"] == "demo model starting"]
    assert started["logger"] == "agentgateway.demo"
    assert started["base_url"] == demo.base_url and started["chunk_delay"] == CHUNK_DELAY


def test_echo_whole_and_streamed(client: OpenAI) -> None:
    messages: Any = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello demo world"}]
    reply = client.chat.completions.create(model="demo", messages=messages)
    assert reply.object == "chat.completion" and reply.model == "demo"
    assert reply.choices[0].message.content == "You said: hello demo world"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.prompt_tokens_details is not None

    stream = client.chat.completions.create(model="any-name", messages=messages, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["You ", "said: ", "hello ", "demo ", "world"]  # one chunk per word
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert {c.model for c in chunks} == {"any-name"}


def test_calls_the_mentioned_tool_then_reports_its_result(client: OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Use get_weather for Oslo."}]
    reply = client.chat.completions.create(model="demo", messages=messages, tools=[HANDOFF_TOOL, WEATHER_TOOL])
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}

    followup: Any = [
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21°C in Oslo"},
    ]
    answer = client.chat.completions.create(model="demo", messages=followup, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "get_weather returned: Sunny, 21°C in Oslo"


@pytest.mark.parametrize(
    ("tool_choice", "called"),
    [("required", "transfer_to_billing_agent"), ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"), ("none", None)],
)
def test_honours_tool_choice(client: OpenAI, tool_choice: Any, called: str | None) -> None:
    # The user names no tool: only tool_choice can make the demo call one.
    reply = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "Hello"}], tools=[HANDOFF_TOOL, WEATHER_TOOL], tool_choice=tool_choice
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls if c.type == "function"] == ([called] if called else [])


def test_streamed_handoff_tool_call_reassembles(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "I need the billing agent"}], tools=[WEATHER_TOOL, HANDOFF_TOOL], stream=True
    )
    chunks = list(stream)
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert [d.function.name for d in deltas if d.function and d.function.name] == ["transfer_to_billing_agent"]
    assert deltas[0].id and deltas[0].type == "function"
    assert json.loads("".join(d.function.arguments or "" for d in deltas if d.function)) == {}
    assert len(deltas) >= 3  # the head, then the arguments in fragments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


class Size(BaseModel):
    label: str
    metres: float


class Landmark(BaseModel):
    name: str
    city: str
    open_daily: bool
    size: Size
    nickname: str | None


def test_fills_a_json_schema_response_format(client: OpenAI) -> None:
    # The client's structured-output helper sends a strict json_schema built from the model.
    completion = client.chat.completions.parse(model="demo", messages=[{"role": "user", "content": "Describe the Eiffel tower."}], response_format=Landmark)
    parsed = completion.choices[0].message.parsed
    assert parsed == Landmark(name="tower", city="tower", open_daily=True, size=Size(label="tower", metres=1), nickname="tower")


class Intent(BaseModel):
    classification: Literal["get_information", "return_item", "cancel_subscription"]


@pytest.mark.parametrize(
    ("said", "picked"),
    [("I want to cancel subscription now", "cancel_subscription"), ("return item please", "return_item"), ("hello", "get_information")],
)
def test_an_enum_takes_the_option_the_user_names(client: OpenAI, said: str, picked: str) -> None:
    # A classifier agent behind the demo model follows the user (else the first option).
    completion = client.chat.completions.parse(model="demo", messages=[{"role": "user", "content": said}], response_format=Intent)
    assert completion.choices[0].message.parsed == Intent(classification=picked)  # type: ignore[arg-type]


def test_answers_the_responses_api_too(client: OpenAI) -> None:
    tools: Any = [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    ]
    called = client.responses.create(model="demo", input="get weather in Lyon", tools=tools)
    [call] = [item for item in called.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Lyon"})
    stream = client.responses.create(model="demo", input="hello there friend", stream=True)
    events = list(stream)
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "You said: hello there friend" and len(deltas) == 5  # one word a delta, as on chat
    assert events[-1].type == "response.completed" and [e.sequence_number for e in events] == list(range(len(events)))


def test_lists_models_and_answers_unknown_urls_like_openai(client: OpenAI, demo: DemoModel) -> None:
    assert [m.id for m in client.models.list()] == ["demo"]
    missing = httpx.get(f"{demo.base_url}/embeddings")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "Invalid URL (GET /v1/embeddings)", "type": "invalid_request_error", "param": None, "code": None}}
    bad = httpx.post(f"{demo.base_url}/chat/completions", json={"model": "demo"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"


def test_a_taken_port_is_a_clear_error(demo: DemoModel, tmp_path: Path) -> None:
    proc = _start(demo.port, tmp_path / "second.log")
    assert proc.wait(20) == 1
    assert "agent-gateway: " in (tmp_path / "second.log").read_text()
