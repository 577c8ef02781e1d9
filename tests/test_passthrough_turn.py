"""``_Turn``: one upstream response, streamed as chunks or whole as a completion (parsed JSON,
as the upstream sends them), into events. Client-tool calls stream to the client under their own
indexes (0..n); gateway-tool calls are held back for the gateway to run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.executor.events import Event, TextDelta, ToolCallDelta, Usage
from services.executor.passthrough import _Turn

AGENT = "support"
CLIENT_TOOLS = {"get_weather", "get_time"}  # sent by the client; "lookup_ticket" is a gateway tool


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """One streamed chunk as an OpenAI-compatible upstream sends it (a usage chunk has no choices)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-test",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
    return body


def call_delta(index: int, arguments: str | None = None, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index}
    if call_id is not None:
        out["id"] = call_id
        out["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        out["function"] = function
    return out


def calls(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": list(parts)}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# A reply with text and three parallel calls, interleaved the way upstreams stream them:
# upstream index 0 is a gateway tool, 1 and 2 are client tools (the client sees 0 and 1).
STREAM: list[tuple[dict[str, Any], list[Event]]] = [
    (chunk({"role": "assistant", "content": ""}), []),
    (chunk({"content": "Let me "}), [TextDelta("Let me ", AGENT)]),
    (chunk({"content": "check."}), [TextDelta("check.", AGENT)]),
    (chunk(calls(call_delta(0, "", "call_g", "lookup_ticket"))), []),
    # A call is announced to the client once its name is whole: when its arguments begin.
    (chunk(calls(call_delta(1, "", "call_w", "get_weather"))), []),
    (chunk(calls(call_delta(0, '{"id":'))), []),
    (chunk(calls(call_delta(1, '{"ci'))), [ToolCallDelta(0, "call_w", "get_weather", '{"ci')]),
    (chunk(calls(call_delta(0, " 7}"))), []),
    (chunk(calls(call_delta(1, 'ty": "Par'))), [ToolCallDelta(0, "", "", 'ty": "Par')]),
    # Two fragments in one chunk: the last of call 1 and the first of call 2.
    (
        chunk(calls(call_delta(1, 'is"}'), call_delta(2, '{"tz":', "call_t", "get_time"))),
        [ToolCallDelta(0, "", "", 'is"}'), ToolCallDelta(1, "call_t", "get_time", '{"tz":')],
    ),
    (chunk(calls(call_delta(2))), [ToolCallDelta(1, "", "", "")]),  # an empty fragment (no function at all)
    (chunk(calls(call_delta(2, '"CET"}'))), [ToolCallDelta(1, "", "", '"CET"}')]),
    (chunk({}, "tool_calls"), []),
    (chunk(usage={"prompt_tokens": 42, "completion_tokens": 17}), []),
]
CLIENT_CALLS = [call("call_w", "get_weather", '{"city": "Paris"}'), call("call_t", "get_time", '{"tz":"CET"}')]
GATEWAY_CALLS = [call("call_g", "lookup_ticket", '{"id": 7}')]


@pytest.mark.parametrize("step", range(len(STREAM)))
def test_each_chunk_gives_its_events(step: int) -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    for earlier, _ in STREAM[:step]:
        turn.feed(earlier)
    got, expected = turn.feed(STREAM[step][0]), STREAM[step][1]
    assert got == expected


def test_streamed_turn_assembles_everything() -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    events = [e for c, _ in STREAM for e in turn.feed(c)]
    assert events == [e for _, expected in STREAM for e in expected]
    assert turn.client_calls() == CLIENT_CALLS
    assert turn.gateway_calls() == GATEWAY_CALLS
    assert turn.text == "Let me check."
    assert turn.finish == "tool_calls"
    assert turn.usage == Usage(42, 17)
    for assembled in [*turn.client_calls(), *turn.gateway_calls()]:
        json.loads(assembled["function"]["arguments"])  # whole JSON once assembled


def test_client_sees_consecutive_indexes_and_whole_calls() -> None:
    """What a client rebuilds from the ToolCallDelta events alone equals ``client_calls()``."""
    turn = _Turn(CLIENT_TOOLS, AGENT)
    rebuilt: dict[int, dict[str, Any]] = {}
    for c, _ in STREAM:
        for event in turn.feed(c):
            if isinstance(event, ToolCallDelta):
                entry = rebuilt.setdefault(event.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                entry["id"] += event.id
                entry["function"]["name"] += event.name
                entry["function"]["arguments"] += event.arguments_delta
    assert sorted(rebuilt) == [0, 1]
    assert [rebuilt[i] for i in sorted(rebuilt)] == turn.client_calls()


def completion(message: dict[str, Any], finish: str, usage: dict[str, int] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
    return body


def test_whole_completion_gives_the_same_calls() -> None:
    response = completion(
        {"content": "Let me check.", "tool_calls": [GATEWAY_CALLS[0], CLIENT_CALLS[0], CLIENT_CALLS[1]]},
        "tool_calls",
        {"prompt_tokens": 42, "completion_tokens": 17},
    )
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert turn.feed_message(response) == [
        TextDelta("Let me check.", AGENT),
        ToolCallDelta(0, "call_w", "get_weather", '{"city": "Paris"}'),
        ToolCallDelta(1, "call_t", "get_time", '{"tz":"CET"}'),
    ]
    streamed = _Turn(CLIENT_TOOLS, AGENT)
    for c, _ in STREAM:
        streamed.feed(c)
    assert turn.client_calls() == streamed.client_calls() == CLIENT_CALLS
    assert turn.gateway_calls() == streamed.gateway_calls() == GATEWAY_CALLS
    assert (turn.text, turn.finish, turn.usage) == (streamed.text, streamed.finish, streamed.usage)


@pytest.mark.parametrize(
    ("finish", "usage", "expected_usage"),
    [("stop", {"prompt_tokens": 5, "completion_tokens": 2}, Usage(5, 2)), ("length", None, None), ("content_filter", None, None)],
)
def test_text_only_completion(finish: str, usage: dict[str, int] | None, expected_usage: Usage | None) -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert turn.feed_message(completion({"content": "Sunny."}, finish, usage)) == [TextDelta("Sunny.", AGENT)]
    assert (turn.text, turn.finish, turn.usage) == ("Sunny.", finish, expected_usage)
    assert turn.client_calls() == turn.gateway_calls() == []


def test_whole_completion_with_only_gateway_calls_streams_nothing_for_them() -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert turn.feed_message(completion({"content": None, "tool_calls": GATEWAY_CALLS}, "tool_calls", None)) == []
    assert (turn.gateway_calls(), turn.client_calls(), turn.text) == (GATEWAY_CALLS, [], "")


def test_text_only_stream() -> None:
    turn = _Turn(set(), AGENT)
    events = [e for c in [chunk({"role": "assistant"}), chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, "length")] for e in turn.feed(c)]
    assert events == [TextDelta("a", AGENT), TextDelta("b", AGENT)]
    assert (turn.text, turn.finish, turn.usage) == ("ab", "length", None)


def test_defaults_before_any_chunk() -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert (turn.text, turn.finish, turn.usage, turn.client_calls(), turn.gateway_calls()) == ("", None, None, [], [])


def test_only_the_first_choice_counts() -> None:
    body = chunk({"content": "first"})
    body["choices"].append({"index": 1, "delta": {"content": "second"}, "finish_reason": None})
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert turn.feed(body) == [TextDelta("first", AGENT)]
    assert turn.text == "first"


def test_usage_may_ride_on_the_finish_chunk() -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    turn.feed(chunk({"content": "x"}, "stop", usage={"prompt_tokens": 1, "completion_tokens": 1}))
    assert (turn.finish, turn.usage) == ("stop", Usage(1, 1))


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        (
            [call_delta(0, "", "call_w", ""), call_delta(0, '{"city":', name="get_weather"), call_delta(0, '"Oslo"}')],
            [[], [ToolCallDelta(0, "call_w", "get_weather", '{"city":')], [ToolCallDelta(0, "", "", '"Oslo"}')]],
        ),
        (
            [call_delta(0, "", "call_w", "get_"), call_delta(0, "", name="weather"), call_delta(0, '{"city":"Oslo"}')],
            [[], [], [ToolCallDelta(0, "call_w", "get_weather", '{"city":"Oslo"}')]],
        ),
    ],
    ids=["id-before-name", "name-in-pieces"],
)
def test_client_gets_the_id_and_whole_name_when_they_come_apart(fragments: list[dict[str, Any]], expected: list[list[Event]]) -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert [turn.feed(chunk(calls(f))) for f in fragments] == expected
    assert turn.client_calls() == [call("call_w", "get_weather", '{"city":"Oslo"}')]


def test_a_client_tool_named_like_the_start_of_a_gateway_tool_is_not_confused() -> None:
    # Client tool "lookup", gateway tool "lookup_ticket", the name streamed in two pieces.
    turn = _Turn({"lookup"}, AGENT)
    fragments = [call_delta(0, "", "call_g", "lookup"), call_delta(0, "", name="_ticket"), call_delta(0, '{"id": 7}')]
    assert [e for f in fragments for e in turn.feed(chunk(calls(f)))] + turn.feed(chunk({}, "tool_calls")) == []
    assert turn.gateway_calls() == [call("call_g", "lookup_ticket", '{"id": 7}')] and turn.client_calls() == []


def test_a_call_without_arguments_is_announced_when_the_turn_ends() -> None:
    turn = _Turn(CLIENT_TOOLS, AGENT)
    assert turn.feed(chunk(calls(call_delta(0, "", "call_t", "get_time")))) == []
    assert turn.feed(chunk({}, "tool_calls")) == [ToolCallDelta(0, "call_t", "get_time", "")]
    assert turn.client_calls() == [call("call_t", "get_time", "")]
