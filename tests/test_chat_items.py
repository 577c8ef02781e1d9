"""``input_items`` (chat messages -> Responses items) against ``chat_messages`` (the way back):
what a chat turn keeps in a conversation is the history the next turn runs on."""

from __future__ import annotations

import pytest

from agentgateway.v1 import messages_pb2 as pb
from services.errors import GatewayError
from services.responses.items import chat_messages, input_items
from services.responses.wire import item_from_json, item_to_json


def call(call_id: str, name: str, arguments: str) -> pb.ToolCall:
    return pb.ToolCall(id=call_id, type="function", function=pb.FunctionCall(name=name, arguments=arguments))


ROUND_TRIPS = [
    [pb.ChatMessage(role=pb.ROLE_USER, content="hi")],
    [pb.ChatMessage(role=pb.ROLE_SYSTEM, content="be brief"), pb.ChatMessage(role=pb.ROLE_DEVELOPER, content="no emoji")],
    [pb.ChatMessage(role=pb.ROLE_USER, content="")],
    [
        pb.ChatMessage(
            role=pb.ROLE_USER,
            parts=[pb.ContentPart(text="what is this?"), pb.ContentPart(image_url=pb.ImageUrl(url="https://example.com/a.png", detail="low"))],
        )
    ],
    [pb.ChatMessage(role=pb.ROLE_USER, parts=[pb.ContentPart(file=pb.FileData(file_data="data:application/pdf;base64,JVBERi0=", filename="a.pdf"))])],
    # Parallel calls with no text, then their results, then the answer.
    [
        pb.ChatMessage(role=pb.ROLE_USER, content="time and weather?"),
        pb.ChatMessage(role=pb.ROLE_ASSISTANT, tool_calls=[call("c1", "time", "{}"), call("c2", "weather", '{"city": "Oslo"}')]),
        pb.ChatMessage(role=pb.ROLE_TOOL, tool_call_id="c1", content="noon"),
        pb.ChatMessage(role=pb.ROLE_TOOL, tool_call_id="c2", content="sunny"),
        pb.ChatMessage(role=pb.ROLE_ASSISTANT, content="Noon and sunny."),
    ],
    # Text and a call in one assistant message.
    [pb.ChatMessage(role=pb.ROLE_ASSISTANT, content="Let me look.", tool_calls=[call("c3", "lookup", '{"id": 7}')])],
]


@pytest.mark.parametrize("messages", ROUND_TRIPS)
def test_messages_come_back_from_the_items_they_are_kept_as(messages: list[pb.ChatMessage]) -> None:
    # Through the JSON a conversation stores, as a next turn reads it.
    stored = [item_to_json(item) for item in input_items(messages)]
    assert all("id" not in item for item in stored)  # the store gives ids
    assert chat_messages(item_from_json(item, f"history[{n}]") for n, item in enumerate(stored)) == messages


def test_the_item_shapes_are_openais() -> None:
    messages = ROUND_TRIPS[5]
    assert [item_to_json(i) for i in input_items(messages)] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "time and weather?"}]},
        {"type": "function_call", "call_id": "c1", "name": "time", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "noon"},
        {"type": "function_call_output", "call_id": "c2", "output": "sunny"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Noon and sunny.", "annotations": []}]},
    ]


def test_a_tool_message_in_parts_is_its_text_and_a_refusal_is_kept_as_text() -> None:
    tool = pb.ChatMessage(role=pb.ROLE_TOOL, tool_call_id="c1", parts=[pb.ContentPart(text="12"), pb.ContentPart(text=":00")])
    refusal = pb.ChatMessage(role=pb.ROLE_ASSISTANT, refusal="I cannot help with that.")
    assert [item_to_json(i) for i in input_items([tool, refusal])] == [
        {"type": "function_call_output", "call_id": "c1", "output": "12:00"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "I cannot help with that.", "annotations": []}]},
    ]


@pytest.mark.parametrize(
    ("message", "param"),
    [
        (
            pb.ChatMessage(role=pb.ROLE_USER, parts=[pb.ContentPart(text="x"), pb.ContentPart(input_audio=pb.InputAudio(data="UklGRg==", format="wav"))]),
            "messages[1].content[1]",
        ),
        (pb.ChatMessage(role=pb.ROLE_USER, parts=[pb.ContentPart(file=pb.FileData(file_id="file-1"))]), "messages[1].content[0]"),
        (pb.ChatMessage(content="no role"), "messages[1].role"),
    ],
)
def test_what_a_conversation_cannot_give_back_is_refused(message: pb.ChatMessage, param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        input_items([pb.ChatMessage(role=pb.ROLE_USER, content="ok"), message])
    assert (caught.value.status, caught.value.metadata["param"]) == ("INVALID_ARGUMENT", param)


def test_an_mcp_call_item_round_trips_and_is_the_call_and_its_result_in_chat_history() -> None:
    item = {"id": "mcp_1", "type": "mcp_call", "server_label": "calc", "name": "add", "arguments": '{"a": 1}', "output": "2", "status": "completed"}
    parsed = item_from_json(item, "input[0]")
    assert item_to_json(parsed) == item
    question = item_from_json({"role": "user", "content": "1+1?"}, "input[1]")
    history = chat_messages([question, parsed], history=True)
    assert [m.role for m in history] == [pb.ROLE_USER, pb.ROLE_ASSISTANT, pb.ROLE_TOOL]
    assert history[1].tool_calls[0].id == history[2].tool_call_id == "mcp_1"
    assert (history[1].tool_calls[0].function.name, history[2].content) == ("add", "2")
