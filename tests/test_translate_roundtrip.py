"""OpenAI JSON -> ``ChatCompletionRequest`` -> ``pb.ChatRequest`` (shim) -> ``ChatInput`` (executor).

The executor hands ``ChatInput`` to upstreams and the SDK in OpenAI's vocabulary, so what the
client sent must come back out: same messages, tools, choices, formats and sampling values,
and the same JSON (an integer stays an integer).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentgateway.v1 import messages_pb2 as pb
from services.errors import GatewayError
from services.executor.codec import chat_input_from_proto
from services.executor.events import ChatInput
from services.security.hardening import FORBIDDEN_FIELDS
from shim.schemas import ChatCompletionRequest, ValidationError, param_of
from shim.translate import chat_request_from_openai

MODEL = "default/weather"
HI = {"role": "user", "content": "hi"}
CALL_1 = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
CALL_2 = {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
PROPERTY = settings(database=None, deadline=None, max_examples=100)


def to_proto(body: dict[str, Any]) -> pb.ChatRequest:
    return chat_request_from_openai(ChatCompletionRequest.model_validate(body))


def round_trip(body: dict[str, Any]) -> ChatInput:
    return chat_input_from_proto(to_proto(body))


def request(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [HI], **fields}


def assert_same_json(got: Any, expected: Any) -> None:
    assert got == expected
    # == says 3 == 3.0; the JSON an upstream receives must not.
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


# --- messages -------------------------------------------------------------------------------

# (id, message sent, message the executor sees; None = the same)
MESSAGES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("system", {"role": "system", "content": "Be brief."}, None),
    ("system-name", {"role": "system", "content": "Be brief.", "name": "ops"}, None),
    ("developer", {"role": "developer", "content": "Answer in French."}, None),
    ("developer-parts", {"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, None),
    ("user", {"role": "user", "content": "What's the weather?"}, None),
    ("user-name", {"role": "user", "content": "hi", "name": "alice"}, None),
    ("user-empty", {"role": "user", "content": ""}, None),
    ("user-unicode", {"role": "user", "content": 'héllo 🌍\n\t"quoted" \\ ünïcödé 中文'}, None),
    ("user-text-part", {"role": "user", "content": [{"type": "text", "text": "look"}]}, None),
    ("image", {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}, None),
    ("image-low", {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}}]}, None),
    ("image-high", {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "high"}}]}, None),
    ("image-auto", {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "auto"}}]}, None),
    ("audio", {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}, None),
    ("file-id", {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}, None),
    ("file-data", {"role": "user", "content": [{"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}]}, None),
    ("file-all", {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc", "file_data": "JVBERi0=", "filename": "a.pdf"}}]}, None),
    (
        "mixed-parts",
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "compare"},
                {"type": "image_url", "image_url": {"url": "https://x.test/1.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/2.png"}},
                {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
                {"type": "file", "file": {"file_id": "file-abc"}},
                {"type": "text", "text": "please"},
            ],
        },
        None,
    ),
    ("assistant", {"role": "assistant", "content": "Sunny."}, None),
    ("assistant-empty", {"role": "assistant", "content": ""}, None),  # null would break OpenAI's schema
    ("assistant-name", {"role": "assistant", "content": "Sunny.", "name": "weather"}, None),
    ("assistant-call", {"role": "assistant", "content": None, "tool_calls": [CALL_1]}, None),
    ("assistant-calls", {"role": "assistant", "content": None, "tool_calls": [CALL_1, CALL_2]}, None),
    ("assistant-text-and-call", {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL_1]}, None),
    ("assistant-refusal", {"role": "assistant", "content": "", "refusal": "I can't help with that."}, None),
    ("assistant-parts", {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]}, None),
    ("tool", {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_1"}, None),
    ("tool-parts", {"role": "tool", "content": [{"type": "text", "text": "21C"}], "tool_call_id": "call_1"}, None),
    # Normalisations: the proto has no "unset" for strings, so these come back in one canonical form.
    ("assistant-empty-with-call", {"role": "assistant", "content": "", "tool_calls": [CALL_1]}, {"role": "assistant", "content": None, "tool_calls": [CALL_1]}),
    ("assistant-no-content", {"role": "assistant"}, {"role": "assistant", "content": ""}),
    ("assistant-refusal-null", {"role": "assistant", "content": None, "refusal": "No."}, {"role": "assistant", "content": "", "refusal": "No."}),
    ("user-null", {"role": "user", "content": None}, {"role": "user", "content": ""}),
    (
        "call-no-arguments",
        {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]},
    ),
    ("text-part-no-text", {"role": "user", "content": [{"type": "text"}]}, {"role": "user", "content": [{"type": "text", "text": ""}]}),
    ("extra-message-field", {"role": "user", "content": "hi", "audio": {"id": "a"}}, {"role": "user", "content": "hi"}),
]


@pytest.mark.parametrize(("sent", "expected"), [(m, e) for _, m, e in MESSAGES], ids=[i for i, _, _ in MESSAGES])
def test_message_round_trips(sent: dict[str, Any], expected: dict[str, Any] | None) -> None:
    got = round_trip({"model": MODEL, "messages": [sent]}).messages
    assert_same_json(got, [expected if expected is not None else sent])


def test_whole_conversation_round_trips_in_order() -> None:
    conversation = [m if e is None else e for _, m, e in MESSAGES]
    got = round_trip({"model": MODEL, "messages": conversation})
    assert got.model_id == MODEL
    assert_same_json(got.messages, conversation)


# --- tools, tool_choice, response_format ----------------------------------------------------

PARAMETERS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name", "enum": ["Paris", "Oslo"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 3},
        "ratio": {"type": "number", "multipleOf": 0.5},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "headers": {"type": "object"},  # a data property, not gateway config
        "nullable": {"type": ["string", "null"], "default": None},
    },
    "required": ["city"],
    "additionalProperties": False,
}
EMPTY_PARAMETERS = {"type": "object", "properties": {}}

# (id, tool sent, tool the executor sees; None = the same)
TOOLS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("name-only", {"type": "function", "function": {"name": "ping"}}, {"type": "function", "function": {"name": "ping", "parameters": EMPTY_PARAMETERS}}),
    (
        "description",
        {"type": "function", "function": {"name": "ping", "description": "Ping it."}},
        {"type": "function", "function": {"name": "ping", "description": "Ping it.", "parameters": EMPTY_PARAMETERS}},
    ),
    ("parameters", {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}, None),
    ("empty-parameters", {"type": "function", "function": {"name": "ping", "parameters": {}}}, None),
    ("strict-true", {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": PARAMETERS, "strict": True}}, None),
    ("strict-false", {"type": "function", "function": {"name": "ping", "parameters": EMPTY_PARAMETERS, "strict": False}}, None),
]


@pytest.mark.parametrize(("sent", "expected"), [(t, e) for _, t, e in TOOLS], ids=[i for i, _, _ in TOOLS])
def test_tool_round_trips(sent: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert_same_json(round_trip(request(tools=[sent])).tools, [expected if expected is not None else sent])


def test_several_tools_keep_their_order() -> None:
    sent = [t for _, t, e in TOOLS if e is None]
    assert_same_json(round_trip(request(tools=sent)).tools, sent)


@pytest.mark.parametrize(
    "choice",
    ["none", "auto", "required", {"type": "function", "function": {"name": "get_weather"}}],
    ids=["none", "auto", "required", "function"],
)
def test_tool_choice_round_trips(choice: str | dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    assert round_trip(request(tools=tools, tool_choice=choice)).tool_choice == choice


def test_no_tool_choice_is_none() -> None:
    got = to_proto(request())
    assert got.tool_choice.WhichOneof("choice") is None
    assert chat_input_from_proto(got).tool_choice is None


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer", "minimum": 0}}, "required": ["answer"]}

# (id, response_format sent, what the executor sees; None = the same)
RESPONSE_FORMATS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("text", {"type": "text"}, None),
    ("json_object", {"type": "json_object"}, None),
    ("json_schema", {"type": "json_schema", "json_schema": {"name": "answer", "description": "An answer.", "schema": SCHEMA, "strict": True}}, None),
    ("json_schema-not-strict", {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False}}, None),
    (
        "json_schema-name-only",
        {"type": "json_schema", "json_schema": {"name": "answer"}},
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": {}}},
    ),
    ("json_schema-no-spec", {"type": "json_schema"}, {"type": "json_schema", "json_schema": {"name": "response", "schema": {}}}),
    ("text-ignores-spec", {"type": "text", "json_schema": {"name": "answer", "schema": SCHEMA}}, {"type": "text"}),
]


@pytest.mark.parametrize(("sent", "expected"), [(f, e) for _, f, e in RESPONSE_FORMATS], ids=[i for i, _, _ in RESPONSE_FORMATS])
def test_response_format_round_trips(sent: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert_same_json(round_trip(request(response_format=sent)).response_format, expected if expected is not None else sent)


def test_no_response_format_is_none() -> None:
    assert round_trip(request()).response_format is None


# --- sampling, user, extra ------------------------------------------------------------------

# (id, fields sent, sampling the executor sees)
SAMPLING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("none", {}, {}),
    ("temperature", {"temperature": 0.7}, {"temperature": 0.7}),
    ("temperature-zero", {"temperature": 0}, {"temperature": 0.0}),  # set to 0 is not unset
    ("temperature-int", {"temperature": 2}, {"temperature": 2.0}),
    ("top_p", {"top_p": 0.9}, {"top_p": 0.9}),
    ("top_p-zero", {"top_p": 0}, {"top_p": 0.0}),
    ("max_tokens", {"max_tokens": 50}, {"max_tokens": 50}),
    ("max_tokens-int32-max", {"max_tokens": 2**31 - 1}, {"max_tokens": 2**31 - 1}),
    ("max_completion_tokens", {"max_completion_tokens": 60}, {"max_tokens": 60}),
    ("max_completion_tokens-wins", {"max_tokens": 50, "max_completion_tokens": 60}, {"max_tokens": 60}),
    ("max_completion_tokens-wins-smaller", {"max_tokens": 500, "max_completion_tokens": 1}, {"max_tokens": 1}),
    ("stop-str", {"stop": "END"}, {"stop": ["END"]}),
    ("stop-list", {"stop": ["END", "\n\n", "STOP", "."]}, {"stop": ["END", "\n\n", "STOP", "."]}),
    ("stop-empty", {"stop": []}, {}),
    ("seed", {"seed": 7}, {"seed": 7}),
    ("seed-zero", {"seed": 0}, {"seed": 0}),
    ("seed-negative-int64-min", {"seed": -(2**63)}, {"seed": -(2**63)}),
    ("seed-int64-max", {"seed": 2**63 - 1}, {"seed": 2**63 - 1}),
    ("presence_penalty", {"presence_penalty": -2}, {"presence_penalty": -2.0}),
    ("frequency_penalty", {"frequency_penalty": 1.5}, {"frequency_penalty": 1.5}),
    ("penalties-zero", {"presence_penalty": 0, "frequency_penalty": 0}, {"presence_penalty": 0.0, "frequency_penalty": 0.0}),
    ("parallel_tool_calls-false", {"parallel_tool_calls": False}, {"parallel_tool_calls": False}),
    ("parallel_tool_calls-true", {"parallel_tool_calls": True}, {"parallel_tool_calls": True}),
    ("n", {"n": 1}, {"n": 1}),
    ("reasoning_effort", {"reasoning_effort": "low"}, {"reasoning_effort": "low"}),
    (
        "all",
        {
            "temperature": 0.2,
            "top_p": 0.5,
            "max_tokens": 10,
            "stop": "x",
            "seed": 1,
            "presence_penalty": 0.1,
            "frequency_penalty": -0.1,
            "parallel_tool_calls": False,
            "n": 1,
            "reasoning_effort": "high",
        },
        {
            "temperature": 0.2,
            "top_p": 0.5,
            "max_tokens": 10,
            "stop": ["x"],
            "seed": 1,
            "presence_penalty": 0.1,
            "frequency_penalty": -0.1,
            "parallel_tool_calls": False,
            "n": 1,
            "reasoning_effort": "high",
        },
    ),
]


@pytest.mark.parametrize(("sent", "expected"), [(s, e) for _, s, e in SAMPLING], ids=[i for i, _, _ in SAMPLING])
def test_sampling_round_trips(sent: dict[str, Any], expected: dict[str, Any]) -> None:
    got = round_trip(request(**sent))
    assert_same_json(got.sampling, expected)
    assert got.extra == {}  # sampling fields are never "unknown"


@pytest.mark.parametrize(("sent", "expected"), [({"user": "user-42"}, "user-42"), ({}, "")], ids=["set", "unset"])
def test_user_round_trips(sent: dict[str, Any], expected: str) -> None:
    assert round_trip(request(**sent)).user == expected


EXTRA = {
    "logprobs": True,
    "top_logprobs": 3,
    "logit_bias": {"50256": -100, "198": 2.5},
    "metadata": {"team": "ops", "nested": {"ids": [1, 2, 3], "none": None, "ok": False}},
    "service_tier": "auto",
    "prediction": {"type": "content", "content": "draft"},
    "modalities": ["text"],
    "some_future_field": [1.5, "two", {"three": 3}],
}


def test_unknown_top_level_fields_land_in_extra() -> None:
    got = round_trip(request(stream=True, stream_options={"include_usage": True}, **EXTRA))
    assert_same_json(got.extra, EXTRA)  # integers stay integers: upstreams reject top_logprobs 3.0


def test_known_fields_never_land_in_extra() -> None:
    known = {"stream": True, "stream_options": {"include_usage": False}, "temperature": 1, "user": "u", "reasoning_effort": "low", "tool_choice": "auto"}
    chat = to_proto(request(**known))
    assert not chat.HasField("extra")
    assert chat_input_from_proto(chat).extra == {}


@pytest.mark.parametrize(
    ("fields", "include_usage"),
    [
        ({}, True),
        ({"stream": False}, True),
        ({"stream": True}, False),
        ({"stream": True, "stream_options": {}}, False),
        ({"stream": True, "stream_options": {"include_usage": False}}, False),
        ({"stream": True, "stream_options": {"include_usage": True}}, True),
    ],
)
def test_include_usage(fields: dict[str, Any], include_usage: bool) -> None:
    assert to_proto(request(**fields)).include_usage is include_usage


# --- properties -----------------------------------------------------------------------------


def finite(low: float | None = None, high: float | None = None) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


# Wider than the schema allows, on purpose: whatever the schema accepts must survive the
# round trip (not crash the proto encoder), and whatever it refuses must name the field.
SAMPLING_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "temperature": finite(-1, 3),
        "top_p": finite(-0.5, 1.5),
        "max_tokens": st.integers(),
        "max_completion_tokens": st.integers(),
        "stop": st.one_of(st.text(), st.lists(st.text(), max_size=5)),
        "seed": st.integers(),
        "presence_penalty": finite(-3, 3),
        "frequency_penalty": finite(-3, 3),
        "parallel_tool_calls": st.booleans(),
        "n": st.integers(0, 2),
        "reasoning_effort": st.text(min_size=1),
    },
)


@PROPERTY
@given(SAMPLING_VALUES)
def test_any_valid_sampling_survives(sent: dict[str, Any]) -> None:
    try:
        ChatCompletionRequest.model_validate(request(**sent))
    except ValidationError as exc:
        assert param_of(exc)[0] in sent  # refused, and the error says which field
        return
    expected = {k: v for k, v in sent.items() if k != "max_completion_tokens"}
    if "max_completion_tokens" in sent:
        expected["max_tokens"] = sent["max_completion_tokens"]
    if isinstance(sent.get("stop"), str):
        expected["stop"] = [sent["stop"]]
    if expected.get("stop") == []:
        del expected["stop"]
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        if name in expected:
            expected[name] = float(expected[name])
    assert_same_json(round_trip(request(**sent)).sampling, expected)


TEXTUAL_MESSAGES = st.lists(
    st.one_of(
        st.builds(lambda role, text: {"role": role, "content": text}, st.sampled_from(["system", "developer", "user", "assistant", "tool"]), st.text()),
        st.builds(lambda text, name: {"role": "user", "content": text, "name": name}, st.text(), st.text(min_size=1)),
        st.builds(lambda texts: {"role": "user", "content": [{"type": "text", "text": t} for t in texts]}, st.lists(st.text(), min_size=1, max_size=4)),
        st.builds(
            lambda text, args: {
                "role": "assistant",
                "content": text,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}],
            },
            st.text(min_size=1),
            st.text(),
        ),
        st.builds(lambda text, call_id: {"role": "tool", "content": text, "tool_call_id": call_id}, st.text(), st.text(min_size=1)),
    ),
    min_size=1,
    max_size=6,
)


@PROPERTY
@given(TEXTUAL_MESSAGES)
def test_any_message_text_survives(messages: list[dict[str, Any]]) -> None:
    assert_same_json(round_trip({"model": MODEL, "messages": messages}).messages, messages)


JSON_KEYS = st.text(min_size=1, max_size=8).filter(lambda k: k.lower() not in FORBIDDEN_FIELDS)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite().filter(lambda f: not f.is_integer()) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=3),
    max_leaves=8,
)
KNOWN_FIELDS = set(ChatCompletionRequest.model_fields)


@PROPERTY
@given(st.dictionaries(JSON_KEYS.filter(lambda k: k not in KNOWN_FIELDS), JSON_VALUES, max_size=4))
def test_any_unknown_json_survives_in_extra(extra: dict[str, Any]) -> None:
    assert_same_json(round_trip(request(**extra)).extra, extra)


# --- error paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"base_url": "https://evil.test"}, "extra.base_url"),
        ({"api_base": "https://evil.test"}, "extra.api_base"),
        ({"API_KEY": "sk-x"}, "extra.API_KEY"),
        ({"extra_headers": {"x": "y"}}, "extra.extra_headers"),
        ({"metadata": {"headers": {"authorization": "x"}}}, "extra.metadata.headers"),
        ({"extra_body": [{"ok": 1}, {"base_url": "https://evil.test"}]}, "extra.extra_body[1].base_url"),
    ],
)
def test_forbidden_field_in_extra(extra: dict[str, Any], param: str) -> None:
    chat = to_proto(request(**extra))  # the shim checks the raw body; the executor checks gRPC callers
    with pytest.raises(GatewayError) as caught:
        chat_input_from_proto(chat)
    assert (caught.value.status, caught.value.reason, caught.value.metadata) == ("INVALID_ARGUMENT", "FORBIDDEN_FIELD", {"param": param})


@pytest.mark.parametrize("role", [pb.ROLE_UNSPECIFIED, 99], ids=["unspecified", "unknown"])
def test_proto_message_without_role(role: Any) -> None:
    chat = pb.ChatRequest(model=MODEL, messages=[pb.ChatMessage(role=pb.ROLE_USER, content="a"), pb.ChatMessage(role=role, content="b")])
    with pytest.raises(GatewayError) as caught:
        chat_input_from_proto(chat)
    assert (caught.value.status, caught.value.reason, caught.value.metadata) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT", {"param": "messages[1].role"})


def test_proto_request_without_model() -> None:
    with pytest.raises(GatewayError) as caught:
        chat_input_from_proto(pb.ChatRequest(messages=[pb.ChatMessage(role=pb.ROLE_USER, content="a")]))
    assert caught.value.metadata == {"param": "model"}


INVALID: list[tuple[dict[str, Any], str, str | None]] = [
    ({"model": MODEL, "messages": [HI, {"content": "no role"}]}, "messages[1].role", "Missing required parameter: 'messages[1].role'."),
    ({"model": MODEL, "messages": [{"role": "function", "content": "x"}]}, "messages[0].role", None),
    ({"messages": [HI]}, "model", "Missing required parameter: 'model'."),
    ({"model": "", "messages": [HI]}, "model", None),
    ({"model": MODEL, "messages": []}, "messages", None),
    (request(max_tokens=2**31), "max_tokens", None),  # beyond the proto's int32
    (request(max_completion_tokens=2**31), "max_completion_tokens", None),
    (request(max_tokens=0), "max_tokens", None),
    (request(seed=2**63), "seed", None),  # beyond the proto's int64
    (request(seed=-(2**63) - 1), "seed", None),
    (request(temperature=2.5), "temperature", None),
    (request(top_p=-0.1), "top_p", None),
    (request(n=2), "n", None),
    (request(stop=["a", "b", "c", "d", "e"]), "stop", None),
    (request(tool_choice="maybe"), "tool_choice", None),
    (request(tools=[{"type": "function", "function": {"name": ""}}]), "tools[0].function.name", None),
    (
        request(tools=[{"type": "function", "function": {"name": "f", "bogus": 1}}]),
        "tools[0].function.bogus",
        "Unrecognized request argument supplied: tools[0].function.bogus",
    ),
    (request(response_format={"type": "xml"}), "response_format.type", None),
]


@pytest.mark.parametrize(("body", "param", "message"), INVALID, ids=[f"{i}-{param}" for i, (_, param, _) in enumerate(INVALID)])
def test_invalid_request_param(body: dict[str, Any], param: str, message: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(body)
    got_param, got_message = param_of(caught.value)
    assert got_param == param
    assert got_message == (message or got_message) and param in got_message


def test_proto_tool_that_is_not_a_function() -> None:
    # The shim's schema refuses it for REST callers; gRPC callers meet this check.
    tools = [
        pb.ToolDefinition(type="function", function=pb.FunctionDefinition(name="a")),
        pb.ToolDefinition(type="custom", function=pb.FunctionDefinition(name="b")),
    ]
    with pytest.raises(GatewayError) as caught:
        chat_input_from_proto(pb.ChatRequest(model=MODEL, messages=[pb.ChatMessage(role=pb.ROLE_USER, content="a")], tools=tools))
    assert (caught.value.status, caught.value.metadata) == ("INVALID_ARGUMENT", {"param": "tools[1].type"})
