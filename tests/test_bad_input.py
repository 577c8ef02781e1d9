"""Bad input never gives a 5xx: whatever JSON a client sends, the shim's parse → check →
translate pipeline either refuses it with INVALID_ARGUMENT (a 400 in OpenAI's shape) or builds
a ``ChatRequest`` that survives the gRPC hop (serialise, parse back). Pure translation code,
driven in process with hypothesis."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgateway.v1 import executor_service_pb2 as ex_pb
from services.errors import GatewayError
from shim.completions import chat_request_from_json, parse_json_body
from shim.json_limits import MAX_JSON_DEPTH

_SURROGATES = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
_STRINGS = st.one_of(st.text(max_size=20), _SURROGATES)
_NUMBERS = st.one_of(st.integers(), st.integers(min_value=-(10**400), max_value=10**400), st.floats(allow_nan=False, allow_infinity=False))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _STRINGS)
_JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_STRINGS, inner, max_size=3)), max_leaves=40
)


def _deep(levels: int) -> Any:
    value: Any = 1
    for level in range(levels):
        value = {"x": value} if level % 2 else [value]
    return value


_DEEP = st.integers(min_value=1, max_value=200).map(_deep)
_ANY = st.one_of(_JSON, _DEEP)

# Where a client can put free-form or mistyped JSON in an otherwise valid request.
_PLACES = st.sampled_from(["unknown", "metadata", "tool_parameters", "schema", "content", "sampling", "tool_choice", "user"])


def _request(place: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "default/weather", "messages": [{"role": "user", "content": "hi"}]}
    if place == "unknown":
        body["some_future_field"] = value
    elif place == "metadata":
        body["metadata"] = {"k": value}
    elif place == "tool_parameters":
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": value}}}}]
    elif place == "schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object", "x": value}}}
    elif place == "content":
        body["messages"][0]["content"] = value
    elif place == "sampling":
        body["max_tokens"] = value
        body["seed"] = value
    elif place == "tool_choice":
        body["tool_choice"] = value
    else:
        body["user"] = value
    return body


def _through_the_shim(raw: bytes) -> ex_pb.CreateChatCompletionRequest | GatewayError:
    try:
        _, chat = chat_request_from_json(parse_json_body(raw))
    except GatewayError as error:
        return error
    wire = ex_pb.CreateChatCompletionRequest(chat=chat).SerializeToString()
    return ex_pb.CreateChatCompletionRequest.FromString(wire)  # what the executor receives


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=_PLACES, value=_ANY)
def test_any_json_anywhere_is_a_400_or_a_request_the_executor_can_read(place: str, value: Any) -> None:
    outcome = _through_the_shim(json.dumps(_request(place, value)).encode())
    if isinstance(outcome, GatewayError):
        assert outcome.status == "INVALID_ARGUMENT"
        assert outcome.message and "Traceback" not in outcome.message


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_a_400_or_a_request(raw: bytes) -> None:
    outcome = _through_the_shim(raw)
    assert not isinstance(outcome, GatewayError) or outcome.status == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", None),
        (json.dumps(_request("unknown", _deep(60))).encode(), "some_future_field"),
        (json.dumps(_request("tool_parameters", _deep(60))).encode(), "tools"),
        (json.dumps(_request("schema", _deep(60))).encode(), "response_format"),
        (json.dumps(_request("unknown", 10**400)).encode(), "some_future_field"),
        (json.dumps(_request("unknown", 2**60)).encode(), "some_future_field"),
        (json.dumps(_request("tool_parameters", 2**64)).encode(), "tools[0].function.parameters"),
        (json.dumps({**_request("content", "hi"), "max_tokens": 2**31}).encode(), "max_tokens"),
        (json.dumps({**_request("content", "hi"), "max_tokens": 10**30}).encode(), "max_tokens"),
        (json.dumps({**_request("content", "hi"), "max_completion_tokens": 2**40}).encode(), "max_completion_tokens"),
        (json.dumps({**_request("content", "hi"), "seed": 2**70}).encode(), "seed"),
    ],
    ids=[
        "nested-10000",
        "nested-60-unknown",
        "nested-60-tool-parameters",
        "nested-60-schema",
        "400-digits",
        "2**60-unknown",
        "2**64-parameters",
        "max_tokens-2**31",
        "max_tokens-10**30",
        "max_completion_tokens-2**40",
        "seed-2**70",
    ],
)
def test_the_reported_cases_are_400s_naming_the_field(raw: bytes, param: str | None) -> None:
    started = time.perf_counter()
    outcome = _through_the_shim(raw)
    assert isinstance(outcome, GatewayError) and outcome.status == "INVALID_ARGUMENT"
    assert outcome.metadata.get("param") == param
    assert time.perf_counter() - started < 1.0  # bounded: refused, not ground through


def test_the_depth_limit_is_generous_for_real_schemas() -> None:
    # Ten nested object levels (OpenAI structured outputs' own limit) in a tool's parameters.
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(10):
        schema = {"type": "object", "properties": {"child": schema}, "required": ["child"]}
    body = _request("content", "hi")
    body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    outcome = _through_the_shim(json.dumps(body).encode())
    assert isinstance(outcome, ex_pb.CreateChatCompletionRequest)
    assert MAX_JSON_DEPTH >= 2 * 10 + 5
