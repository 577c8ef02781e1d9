"""Golden bytes of the shim's SSE encoder, and proof that the official ``openai`` types accept them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from agentgateway.v1 import messages_pb2 as pb
from shim import chunks

META = chunks.CompletionMeta("chatcmpl-abc123", 1700000000, "default/weather")
HEAD = '{"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1700000000,"model":"default/weather","system_fingerprint":null,'


def data_of(frame: bytes) -> dict[str, Any]:
    """The JSON of one SSE frame, checking the framing on the way."""
    text = frame.decode()
    assert text.endswith("\n\n") and text.count("\n\n") == 1
    lines = text[:-2].split("\n")
    assert lines[-1].startswith("data: ")
    return json.loads(lines[-1].removeprefix("data: "))


# (id, frame, exact bytes)
GOLDEN: list[tuple[str, bytes, bytes]] = [
    (
        "role",
        chunks.sse(chunks.chunk(META, {"role": "assistant", "content": ""})),
        b"data: " + HEAD.encode() + b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n',
    ),
    (
        "content",
        chunks.sse(chunks.chunk(META, {"content": 'It\'s 21\u00b0C in "Paris"\n'})),
        b"data: "
        + HEAD.encode()
        # UTF-8 as it is (RFC 8259), not \u escapes: what orjson writes, and what OpenAI sends.
        + b'"choices":[{"index":0,"delta":{"content":"It\'s 21\xc2\xb0C in \\"Paris\\"\\n"},"logprobs":null,"finish_reason":null}]}\n\n',
    ),
    (
        "tool-call-first",
        chunks.sse(chunks.chunk(META, {"tool_calls": [chunks.tool_call_delta_json(pb.ToolCallDelta(index=0, id="call_1", name="get_weather"))]})),
        b"data: "
        + HEAD.encode()
        + b'"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"","name":"get_weather"},"id":"call_1","type":"function"}]},'
        + b'"logprobs":null,"finish_reason":null}]}\n\n',
    ),
    (
        "tool-call-arguments",
        chunks.sse(chunks.chunk(META, {"tool_calls": [chunks.tool_call_delta_json(pb.ToolCallDelta(index=1, arguments_delta='{"city":'))]})),
        b"data: "
        + HEAD.encode()
        + b'"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"city\\":"}}]},"logprobs":null,"finish_reason":null}]}\n\n',
    ),
    (
        "finish",
        chunks.sse(chunks.chunk(META, {}, chunks.finish_reason(pb.FINISH_REASON_TOOL_CALLS))),
        b"data: " + HEAD.encode() + b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}\n\n',
    ),
    (
        "usage",
        # As shim.completions sends it: a chunk with no choices, after the finish chunk.
        chunks.sse({**chunks.chunk(META, {}), "choices": [], "usage": chunks.usage_json(pb.Usage(prompt_tokens=12, completion_tokens=5, total_tokens=17))}),
        b"data: " + HEAD.encode() + b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}\n\n',
    ),
    ("done", chunks.sse("[DONE]"), b"data: [DONE]\n\n"),
    (
        "extension-tool-called",
        chunks.extension_sse(
            META,
            chunks.agent_event_json(
                pb.AgentEvent(
                    tool_called=pb.ToolCalled(call_id="c9", name="lookup_ticket", arguments='{"id":7}', agent="triage", source=pb.TOOL_SOURCE_GATEWAY)
                )
            )
            or {},
        ),
        b"event: agentgateway.tool_called\ndata: "
        + HEAD.encode()
        + b'"choices":[],"agentgateway":{"type":"tool_called","call_id":"c9","name":"lookup_ticket","agent":"triage","source":"gateway","arguments":"{\\"id\\":7}"}}\n\n',
    ),
]


@pytest.mark.parametrize(("frame", "expected"), [(f, e) for _, f, e in GOLDEN], ids=[i for i, _, _ in GOLDEN])
def test_golden_bytes(frame: bytes, expected: bytes) -> None:
    assert frame == expected


@pytest.mark.parametrize("frame", [f for i, f, _ in GOLDEN if i != "done"], ids=[i for i, _, _ in GOLDEN if i != "done"])
def test_openai_accepts_every_chunk(frame: bytes) -> None:
    parsed = ChatCompletionChunk.model_validate(data_of(frame))
    assert (parsed.id, parsed.object, parsed.created, parsed.model) == (META.id, "chat.completion.chunk", META.created, META.model)


def test_openai_reads_the_fields_back() -> None:
    frames = {i: ChatCompletionChunk.model_validate(data_of(f)) for i, f, _ in GOLDEN if i != "done"}
    assert frames["role"].choices[0].delta.role == "assistant"
    assert frames["content"].choices[0].delta.content == 'It\'s 21°C in "Paris"\n'
    first = (frames["tool-call-first"].choices[0].delta.tool_calls or [])[0]
    assert (first.index, first.id, first.type) == (0, "call_1", "function")
    assert first.function is not None and (first.function.name, first.function.arguments) == ("get_weather", "")
    later = (frames["tool-call-arguments"].choices[0].delta.tool_calls or [])[0]
    assert (later.index, later.id, later.type) == (1, None, None)
    assert later.function is not None and (later.function.name, later.function.arguments) == (None, '{"city":')
    assert frames["finish"].choices[0].finish_reason == "tool_calls"
    usage = frames["usage"].usage
    assert frames["usage"].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 5, 17)
    assert frames["extension-tool-called"].choices == []


def test_tool_output_extension_event() -> None:
    output = pb.ToolOutput(call_id="c9", name="lookup_ticket", output="open", agent="triage", source=pb.TOOL_SOURCE_MCP)
    output.duration.FromNanoseconds(1_234_567)
    payload = chunks.agent_event_json(pb.AgentEvent(tool_output=output))
    assert payload == {
        "type": "tool_output",
        "call_id": "c9",
        "name": "lookup_ticket",
        "agent": "triage",
        "source": "mcp",
        "output": "open",
        "duration_ms": 1.235,
    }
    frame = chunks.extension_sse(META, payload)
    assert frame.startswith(b"event: agentgateway.tool_output\ndata: ")
    assert data_of(frame)["agentgateway"] == payload
    ChatCompletionChunk.model_validate(data_of(frame))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (pb.AgentEvent(handoff=pb.Handoff(from_agent="triage", to_agent="billing")), {"type": "handoff", "from_agent": "triage", "to_agent": "billing"}),
        (
            pb.AgentEvent(tool_called=pb.ToolCalled(call_id="c", name="n", arguments="{}")),  # source unset reads as sdk
            {"type": "tool_called", "call_id": "c", "name": "n", "agent": "", "source": "sdk", "arguments": "{}"},
        ),
        (pb.AgentEvent(text_delta=pb.TextDelta(text="hi")), None),
        (pb.AgentEvent(tool_call_delta=pb.ToolCallDelta(index=0)), None),
        (pb.AgentEvent(final_output=pb.FinalOutput(text="hi")), None),
        (pb.AgentEvent(usage=pb.Usage()), None),
        (pb.AgentEvent(), None),
    ],
    ids=["handoff", "tool_called-default-source", "text_delta", "tool_call_delta", "final_output", "usage", "empty"],
)
def test_agent_event_json(event: pb.AgentEvent, expected: dict[str, Any] | None) -> None:
    assert chunks.agent_event_json(event) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (
            pb.ToolCallDelta(index=0, id="call_1", name="f", arguments_delta="{"),
            {"index": 0, "function": {"arguments": "{", "name": "f"}, "id": "call_1", "type": "function"},
        ),
        (pb.ToolCallDelta(index=2, arguments_delta="}"), {"index": 2, "function": {"arguments": "}"}}),
        (pb.ToolCallDelta(index=3, id="call_3"), {"index": 3, "function": {"arguments": ""}, "id": "call_3", "type": "function"}),
    ],
    ids=["first", "later", "id-only"],
)
def test_tool_call_delta_json(delta: pb.ToolCallDelta, expected: dict[str, Any]) -> None:
    assert chunks.tool_call_delta_json(delta) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (pb.FINISH_REASON_STOP, "stop"),
        (pb.FINISH_REASON_LENGTH, "length"),
        (pb.FINISH_REASON_TOOL_CALLS, "tool_calls"),
        (pb.FINISH_REASON_CONTENT_FILTER, "content_filter"),
        (pb.FINISH_REASON_UNSPECIFIED, "stop"),
        (99, "stop"),
    ],
)
def test_finish_reason(value: int, expected: str) -> None:
    assert chunks.finish_reason(value) == expected


def test_usage_json() -> None:
    assert chunks.usage_json(None) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert chunks.usage_json(pb.Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)) == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_chunk_extra_fields_are_top_level() -> None:
    assert chunks.chunk(META, {}, None, usage=None)["usage"] is None


# --- chat.completion ------------------------------------------------------------------------


def test_completion_text_reply() -> None:
    body = chunks.completion(
        META,
        pb.ChatMessage(role=pb.ROLE_ASSISTANT, content="Sunny, 21°C."),
        pb.FINISH_REASON_STOP,
        pb.Usage(prompt_tokens=9, completion_tokens=4, total_tokens=13),
    )
    assert body == {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "default/weather",
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunny, 21°C.", "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    parsed = ChatCompletion.model_validate(body)
    assert parsed.choices[0].message.content == "Sunny, 21°C." and parsed.choices[0].finish_reason == "stop"
    assert parsed.usage is not None and parsed.usage.total_tokens == 13


def test_completion_tool_calls_reply() -> None:
    reply = pb.ChatMessage(
        role=pb.ROLE_ASSISTANT,
        tool_calls=[
            pb.ToolCall(id="call_1", type="function", function=pb.FunctionCall(name="get_weather", arguments='{"city":"Paris"}')),
            pb.ToolCall(id="call_2", function=pb.FunctionCall(name="get_time", arguments="{}")),  # type unset still says function
        ],
    )
    body = chunks.completion(META, reply, pb.FINISH_REASON_TOOL_CALLS, None)
    assert body == {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "default/weather",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    parsed = ChatCompletion.model_validate(body)
    calls = parsed.choices[0].message.tool_calls or []
    assert parsed.choices[0].message.content is None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls if c.type == "function"] == [
        ("call_1", "get_weather", '{"city":"Paris"}'),
        ("call_2", "get_time", "{}"),
    ]


def test_completion_text_and_tool_calls_keeps_text() -> None:
    reply = pb.ChatMessage(role=pb.ROLE_ASSISTANT, content="Checking.", tool_calls=[pb.ToolCall(id="c", function=pb.FunctionCall(name="f"))])
    message = chunks.completion(META, reply, pb.FINISH_REASON_TOOL_CALLS, None)["choices"][0]["message"]
    assert message["content"] == "Checking." and len(message["tool_calls"]) == 1


def test_completion_empty_text_reply_is_empty_string() -> None:
    body = chunks.completion(META, pb.ChatMessage(role=pb.ROLE_ASSISTANT), pb.FINISH_REASON_LENGTH, None)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "", "refusal": None}
    assert ChatCompletion.model_validate(body).choices[0].finish_reason == "length"
