"""Open Responses stream events from the output assembler, checked mechanically: every event
parses as the ``openai`` package's own ``ResponseStreamEvent`` (unknown types rejected), the
order is the specification's, ``sequence_number`` has no gaps, and item ids match the output."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from services.responses.output import OutputAssembler, approval_call, item_id
from shim.responses_events import ResponseEvents, item_json, sse

EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)
RESPONSE_ID = "resp_0123abcd"


def response(status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 1764547200,
        "status": status,
        "model": "default/weather",
        "output": output or [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def stream(feed: list[tuple[str, Any]]) -> tuple[list[dict[str, Any]], OutputAssembler]:
    assembler, events = OutputAssembler(RESPONSE_ID), ResponseEvents()
    out = events.opening(response("in_progress"))
    for kind, value in feed:
        out += events.steps(assembler.text(value) if kind == "text" else assembler.tool_call(*value))
    out += events.steps(assembler.finish())
    out.append(events.ending("completed", response("completed", [item_json(i) for i in assembler.items])))
    return out, assembler


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"].removeprefix("response.") for e in events]


def test_a_text_reply_is_one_message_item_in_the_specified_order() -> None:
    events, _ = stream([("text", "Sunny "), ("text", "today.")])
    assert types(events) == [
        "created", "in_progress", "output_item.added", "content_part.added",
        "output_text.delta", "output_text.delta", "output_text.done", "content_part.done", "output_item.done", "completed",
    ]  # fmt: skip
    for event in events:
        EVENTS.validate_python(event, strict=False)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = events[-1]["response"]
    assert Response.model_validate(done).output_text == "Sunny today."
    assert done["output"][0]["id"] == item_id(RESPONSE_ID, "message", 0) == events[4]["item_id"]


def test_text_then_client_tool_calls_close_the_message_first() -> None:
    events, assembler = stream(
        [
            ("text", "Let me check."),
            ("call", (0, "call_1", "get_weather", '{"city":')),
            ("call", (0, "", "", '"Oslo"}')),
            ("call", (1, "call_2", "get_time", "{}")),
        ]
    )
    for event in events:
        EVENTS.validate_python(event)
    assert types(events)[2:] == [
        "output_item.added", "content_part.added", "output_text.delta", "output_text.done", "content_part.done", "output_item.done",
        "output_item.added", "function_call_arguments.delta", "function_call_arguments.delta",
        "output_item.added", "function_call_arguments.delta",
        "function_call_arguments.done", "output_item.done", "function_call_arguments.done", "output_item.done", "completed",
    ]  # fmt: skip
    calls = [i for i in assembler.items if i.kind == "function_call"]
    assert [(c.output_index, c.call_id, c.name, c.arguments) for c in calls] == [
        (1, "call_1", "get_weather", '{"city":"Oslo"}'),
        (2, "call_2", "get_time", "{}"),
    ]
    parsed = Response.model_validate(events[-1]["response"])
    assert [o.type for o in parsed.output] == ["message", "function_call", "function_call"]


def test_sse_names_the_event_by_its_type() -> None:
    event = ResponseEvents().opening(response("in_progress"))[0]
    frame = sse(event)
    assert frame.startswith(b"event: response.created\ndata: {") and frame.endswith(b"\n\n")


@pytest.mark.parametrize("bad", [{"type": "response.agentgateway.tool_called", "sequence_number": 0}])
def test_an_unknown_event_type_is_rejected_by_the_clients_model(bad: dict[str, Any]) -> None:
    # Why gateway-only events (tools the gateway ran) must stay opt-in: strict clients refuse them.
    with pytest.raises(pydantic.ValidationError):
        EVENTS.validate_python(bad)


def test_an_approval_request_is_one_whole_item_after_the_text_and_names_its_call() -> None:
    assembler, events = OutputAssembler(RESPONSE_ID), ResponseEvents()
    out = events.steps(assembler.text("I will close it."))
    out += events.steps(assembler.approval_request("apr_ab12", 0, "close_ticket", '{"ticket_id": 1}', "Approver"))
    out += events.steps(assembler.finish())
    for event in out:
        EVENTS.validate_python({**event, "sequence_number": 0})
    kinds = [(e["type"], e.get("item", {}).get("type")) for e in out if e["type"].startswith("response.output_item")]
    assert kinds == [
        ("response.output_item.added", "message"),
        ("response.output_item.done", "message"),
        ("response.output_item.added", "mcp_approval_request"),
        ("response.output_item.done", "mcp_approval_request"),
    ]
    request = assembler.items[1]
    assert approval_call(request.id) == ("apr_ab12", 0) and approval_call("msg_x_0") is None
    parsed = Response.model_validate(response("completed", [item_json(i) for i in assembler.items]))
    assert parsed.output[1].type == "mcp_approval_request" and parsed.output[1].server_label == "Approver"  # type: ignore[union-attr]
