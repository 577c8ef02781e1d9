"""Executor events -> ``AgentEvent`` protos, and a whole run -> ``CreateChatCompletionResponse``."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from agentgateway.v1 import messages_pb2 as pb
from services.executor import events as ev
from services.executor.codec import completion_to_proto, event_to_proto

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}

# (id, event, the AgentEvent as proto JSON)
EVENTS: list[tuple[str, ev.Event, dict[str, Any]]] = [
    ("text", ev.TextDelta("Hello", "weather"), {"textDelta": {"text": "Hello", "agent": "weather"}}),
    ("text-no-agent", ev.TextDelta("Hello"), {"textDelta": {"text": "Hello"}}),
    ("tool-call-first", ev.ToolCallDelta(0, "call_1", "get_weather", ""), {"toolCallDelta": {"id": "call_1", "name": "get_weather"}}),
    ("tool-call-later", ev.ToolCallDelta(2, arguments_delta='{"ci'), {"toolCallDelta": {"index": 2, "argumentsDelta": '{"ci'}}),
    (
        "tool-called-sdk",
        ev.ToolCalled("c1", "add", '{"a":1}', "math"),
        {"toolCalled": {"callId": "c1", "name": "add", "arguments": '{"a":1}', "agent": "math", "source": "TOOL_SOURCE_SDK"}},
    ),
    (
        "tool-called-gateway",
        ev.ToolCalled("c2", "lookup_ticket", "{}", "support", "gateway"),
        {"toolCalled": {"callId": "c2", "name": "lookup_ticket", "arguments": "{}", "agent": "support", "source": "TOOL_SOURCE_GATEWAY"}},
    ),
    (
        "tool-output-mcp",
        ev.ToolOutput("c3", "calc", "42", "math", "mcp", 1.5),
        {"toolOutput": {"callId": "c3", "name": "calc", "output": "42", "agent": "math", "source": "TOOL_SOURCE_MCP", "duration": "1.500s"}},
    ),
    (
        "tool-output-fast",
        ev.ToolOutput("c4", "echo", "", duration_s=0.000123),
        {"toolOutput": {"callId": "c4", "name": "echo", "source": "TOOL_SOURCE_SDK", "duration": "0.000123s"}},
    ),
    ("handoff", ev.Handoff("triage", "billing"), {"handoff": {"fromAgent": "triage", "toAgent": "billing"}}),
    ("final-default", ev.FinalOutput("Done."), {"finalOutput": {"text": "Done.", "finishReason": "FINISH_REASON_STOP"}}),
    (
        "final-structured",
        ev.FinalOutput('{"answer":1}', "judge", "stop", True),
        {"finalOutput": {"text": '{"answer":1}', "agent": "judge", "finishReason": "FINISH_REASON_STOP", "structured": True}},
    ),
    ("final-length", ev.FinalOutput("Trunc", "a", "length"), {"finalOutput": {"text": "Trunc", "agent": "a", "finishReason": "FINISH_REASON_LENGTH"}}),
    ("final-filtered", ev.FinalOutput("", "a", "content_filter"), {"finalOutput": {"agent": "a", "finishReason": "FINISH_REASON_CONTENT_FILTER"}}),
    (
        "final-tool-calls",
        ev.FinalOutput("", "support", "tool_calls", False, (CALL, {"id": "call_2", "function": {"name": "get_time"}})),
        {
            "finalOutput": {
                "agent": "support",
                "finishReason": "FINISH_REASON_TOOL_CALLS",
                "toolCalls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_time"}},
                ],
            }
        },
    ),
    ("usage", ev.Usage(10, 5), {"usage": {"promptTokens": 10, "completionTokens": 5, "totalTokens": 15}}),
    ("usage-zero", ev.Usage(), {"usage": {}}),
]


@pytest.mark.parametrize(("event", "expected"), [(e, x) for _, e, x in EVENTS], ids=[i for i, _, _ in EVENTS])
def test_event_to_proto(event: ev.Event, expected: dict[str, Any]) -> None:
    proto = event_to_proto(event)
    assert json_format.MessageToDict(proto) == expected
    assert proto.WhichOneof("event") == pb.AgentEvent.DESCRIPTOR.fields_by_camelcase_name[next(iter(expected))].name


def test_every_event_type_is_covered() -> None:
    assert {type(e) for _, e, _ in EVENTS} == {ev.TextDelta, ev.ToolCallDelta, ev.ToolCalled, ev.ToolOutput, ev.Handoff, ev.FinalOutput, ev.Usage}


def test_tool_call_delta_index_zero_is_kept() -> None:
    assert event_to_proto(ev.ToolCallDelta(0, "call_1", "f", "")).tool_call_delta.index == 0


def test_unknown_event_raises() -> None:
    with pytest.raises(TypeError):
        event_to_proto("not an event")  # type: ignore[arg-type]


def _run(usage: ev.Usage | None, final: ev.FinalOutput) -> ev.Completion:
    events: tuple[ev.Event, ...] = (
        ev.ToolCalled("c1", "lookup_ticket", "{}", "support", "gateway"),
        ev.ToolOutput("c1", "lookup_ticket", "open", "support", "gateway", 0.25),
    )
    return ev.Completion(final=final, usage=usage, events=events)


def test_completion_to_proto_with_usage() -> None:
    done = _run(ev.Usage(30, 12), ev.FinalOutput("Your ticket is open.", "support"))
    response = completion_to_proto(done, "chatcmpl-1", 1700000000, "default/support")
    assert (response.id, response.created, response.model) == ("chatcmpl-1", 1700000000, "default/support")
    assert response.message == pb.ChatMessage(role=pb.ROLE_ASSISTANT, content="Your ticket is open.")
    assert response.finish_reason == pb.FINISH_REASON_STOP
    assert response.HasField("usage")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (30, 12, 42)
    assert [e.WhichOneof("event") for e in response.events] == ["tool_called", "tool_output"]
    assert list(response.events) == [event_to_proto(e) for e in done.events]
    assert response.events[1].tool_output.duration.ToMilliseconds() == 250


def test_completion_to_proto_without_usage() -> None:
    done = _run(None, ev.FinalOutput("", "support", "tool_calls", False, (CALL,)))
    response = completion_to_proto(done, "chatcmpl-2", 1, "default/support")
    assert not response.HasField("usage")
    assert response.finish_reason == pb.FINISH_REASON_TOOL_CALLS
    assert response.message.content == ""
    assert list(response.message.tool_calls) == [
        pb.ToolCall(id="call_1", type="function", function=pb.FunctionCall(name="get_weather", arguments='{"city":"Paris"}'))
    ]


def test_completion_to_proto_without_events() -> None:
    response = completion_to_proto(ev.Completion(ev.FinalOutput("hi"), ev.Usage(1, 1), ()), "id", 0, "m")
    assert list(response.events) == []
    assert response.usage.total_tokens == 2
