"""OpenAI chat messages -> Agents SDK (Responses) input items, and the last user text."""

from __future__ import annotations

from typing import Any

import pytest

from services.errors import GatewayError
from services.executor.conversation import last_user_text, to_sdk_items

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}

# (id, one message, the SDK items it becomes)
CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    ("system", {"role": "system", "content": "Be brief."}, [{"role": "system", "content": "Be brief."}]),
    ("system-null", {"role": "system", "content": None}, [{"role": "system", "content": ""}]),
    (
        "system-text-parts",
        {"role": "system", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
        [{"role": "system", "content": "Be brief."}],
    ),
    ("developer", {"role": "developer", "content": "French only."}, [{"role": "developer", "content": "French only."}]),
    ("developer-parts", {"role": "developer", "content": [{"type": "text", "text": "x"}, {"type": "text"}]}, [{"role": "developer", "content": "x"}]),
    ("user", {"role": "user", "content": "hi", "name": "alice"}, [{"role": "user", "content": "hi"}]),
    ("user-empty", {"role": "user", "content": ""}, [{"role": "user", "content": ""}]),
    ("user-null", {"role": "user", "content": None}, [{"role": "user", "content": ""}]),
    (
        "user-text-part",
        {"role": "user", "content": [{"type": "text", "text": "look"}]},
        [{"role": "user", "content": [{"type": "input_text", "text": "look"}]}],
    ),
    (
        "image-no-detail",
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
        [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x.test/a.png", "detail": "auto"}]}],
    ),
    (
        "image-detail",
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}}]},
        [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"}]}],
    ),
    (
        "audio",
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
        [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}],
    ),
    (
        "file-id",
        {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc", "file_data": "", "filename": ""}}]},
        [{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"}]}],
    ),
    (
        "file-data",
        {"role": "user", "content": [{"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}]},
        [{"role": "user", "content": [{"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}]}],
    ),
    (
        "mixed-parts",
        {"role": "user", "content": [{"type": "text", "text": "what is"}, {"type": "image_url", "image_url": {"url": "u"}}, {"type": "text", "text": "this?"}]},
        [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is"},
                    {"type": "input_image", "image_url": "u", "detail": "auto"},
                    {"type": "input_text", "text": "this?"},
                ],
            }
        ],
    ),
    ("assistant", {"role": "assistant", "content": "Sunny."}, [{"role": "assistant", "content": "Sunny."}]),
    (
        "assistant-parts",
        {"role": "assistant", "content": [{"type": "text", "text": "Sun"}, {"type": "text", "text": "ny."}]},
        [{"role": "assistant", "content": "Sunny."}],
    ),
    ("assistant-empty", {"role": "assistant", "content": ""}, []),  # nothing said, nothing to replay
    (
        "assistant-call",
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        [{"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}],
    ),
    (
        "assistant-text-and-calls",
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [CALL, {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}],
        },
        [
            {"role": "assistant", "content": "Checking."},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},  # empty arguments are an empty object
        ],
    ),
    (
        "assistant-call-missing-fields",
        {"role": "assistant", "tool_calls": [{}]},
        [{"type": "function_call", "call_id": "", "name": "", "arguments": "{}"}],
    ),
    (
        "tool",
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp":21}'},
        [{"type": "function_call_output", "call_id": "call_1", "output": '{"temp":21}'}],
    ),
    (
        "tool-parts",
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "21"}, {"type": "text", "text": "C"}]},
        [{"type": "function_call_output", "call_id": "call_1", "output": "21C"}],
    ),
    ("tool-no-id", {"role": "tool", "content": "x"}, [{"type": "function_call_output", "call_id": "", "output": "x"}]),
]


@pytest.mark.parametrize(("message", "items"), [(m, i) for _, m, i in CASES], ids=[c[0] for c in CASES])
def test_message_becomes_items(message: dict[str, Any], items: list[dict[str, Any]]) -> None:
    assert to_sdk_items([message]) == items


def test_conversation_keeps_order() -> None:
    messages = [m for _, m, _ in CASES]
    assert to_sdk_items(messages) == [item for _, _, items in CASES for item in items]


def test_empty_conversation() -> None:
    assert to_sdk_items([]) == []


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "user", "content": "ok"}, {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}], "messages[1].content"),
        ([{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "input_audio", "input_audio": {}}]}], "messages[0].content"),
        ([{"role": "assistant", "content": [{"type": "file", "file": {"file_id": "f"}}]}], "messages[0].content"),
        ([{"role": "tool", "tool_call_id": "c", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}], "messages[0].content"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": [{"type": "video"}]}], "messages[2].content"),
        ([{"role": "user", "content": [{"text": "no type"}]}], "messages[0].content"),
        ([{"role": "user", "content": "ok"}, {"role": "function", "content": "x"}], "messages[1].role"),
        ([{"content": "no role"}], "messages[0].role"),
    ],
    ids=["system-image", "developer-audio", "assistant-file", "tool-image", "user-unknown-part", "user-part-without-type", "unknown-role", "missing-role"],
)
def test_invalid_messages(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        to_sdk_items(messages)
    assert (caught.value.status, caught.value.reason, caught.value.metadata) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT", {"param": param})


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ([{"role": "user", "content": "only"}], "only"),
        ([{"role": "user", "content": "first"}, {"role": "assistant", "content": "reply"}, {"role": "user", "content": "second"}], "second"),
        ([{"role": "user", "content": "asked"}, {"role": "assistant", "content": "answered"}, {"role": "tool", "content": "out"}], "asked"),
        ([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "ab"),
        ([{"role": "user", "content": None}], ""),
        ([{"role": "system", "content": "sys"}, {"role": "assistant", "content": "hi"}], ""),
        ([], ""),
    ],
    ids=["only", "last-of-two", "skips-later-roles", "text-parts", "null", "no-user", "empty"],
)
def test_last_user_text(messages: list[dict[str, Any]], text: str) -> None:
    assert last_user_text(messages) == text


def test_last_user_text_refuses_non_text_parts_with_its_index() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "old"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
    ]
    with pytest.raises(GatewayError) as caught:
        last_user_text(messages)
    assert caught.value.metadata == {"param": "messages[2].content"}


def test_last_user_text_ignores_earlier_non_text_parts() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}, {"role": "user", "content": "latest"}]
    assert last_user_text(messages) == "latest"
