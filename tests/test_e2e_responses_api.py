"""``/v1/responses`` end to end: the official ``openai`` client against the real gateway (both
shim transports), a real fake upstream behind it. Responses are created (unary and streamed),
chained with ``previous_response_id``, retrieved, listed and deleted; every streamed event and
every response parses strictly as the ``openai`` package's own types."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai import AsyncOpenAI
from openai.types.responses import Response, ResponseStreamEvent

from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, KEYS
from tests.fake_upstream import FakeUpstream, HangReply, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.asyncio

EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)


def strict_response(data: dict[str, Any]) -> Response:
    return Response.model_validate(data, strict=False)


async def test_a_response_for_a_drop_in_agent(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("It is sunny in Oslo."))
    response = await client.responses.create(model="default/weather", input="Weather in Oslo?")
    assert response.status == "completed" and response.output_text == "It is sunny in Oslo."
    assert response.id.startswith("resp_") and response.model == "default/weather"
    assert response.usage is not None and response.usage.total_tokens > 0
    assert upstream.chat_requests[-1].body["messages"][-1]["content"] == "Weather in Oslo?"


async def test_a_streamed_response_follows_the_open_responses_sequence(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("one two three", chunks=3))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        async with http.stream("POST", "/v1/responses", json={"model": "default/helpdesk", "input": "count", "stream": True}) as reply:
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
            frames = (await reply.aread()).decode().strip().split("\n\n")
    events = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        event = EVENTS.validate_json(data_line.removeprefix("data: "))  # unknown types are rejected
        assert event_line == f"event: {event.type}"
        events.append(event)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type.removeprefix("response.") for e in events]
    assert kinds[:4] == ["created", "in_progress", "output_item.added", "content_part.added"]
    assert kinds[-4:] == ["output_text.done", "content_part.done", "output_item.done", "completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "one two three"
    done = events[-1].response  # type: ignore[union-attr]
    assert done.status == "completed" and done.output_text == "one two three"
    # What the stream announced is what is kept.
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        kept = (await http.get(f"/v1/responses/{done.id}")).json()
    assert strict_response(kept).output[0].id == done.output[0].id == events[2].item.id  # type: ignore[union-attr]


async def test_the_openai_clients_stream_helper_gets_the_final_response(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("streamed by the helper", chunks=3))
    async with client.responses.stream(model="default/helpdesk", input="hello") as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text == "streamed by the helper"


async def test_previous_response_id_continues_the_conversation(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Hello Bo."), TextReply("Your name is Bo."))
    first = await client.responses.create(model="default/helpdesk", input="My name is Bo.")
    second = await client.responses.create(model="default/helpdesk", input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text == "Your name is Bo."
    sent = upstream.chat_requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent if m["role"] != "system"] == [
        ("user", "My name is Bo."),
        ("assistant", "Hello Bo."),
        ("user", "What is my name?"),
    ]
    items = await client.responses.input_items.list(second.id)
    assert [i.type for i in items.data] == ["message"] and items.data[0].content[0].text == "What is my name?"  # type: ignore[union-attr]


async def test_instructions_apply_to_one_response_only(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Ahoy."), TextReply("Hello."))
    first = await client.responses.create(model="default/helpdesk", input="Hi", instructions="Talk like a pirate.")
    await client.responses.create(model="default/helpdesk", input="Hi again", previous_response_id=first.id)
    first_sent, second_sent = (r.body["messages"] for r in upstream.chat_requests[-2:])
    assert {"role": "system", "content": "Talk like a pirate."} in first_sent
    assert all(m.get("content") != "Talk like a pirate." for m in second_sent)


async def test_retrieve_and_delete_are_the_keys_own(gateway: GatewayProcess, client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("kept"))
    created = await client.responses.create(model="default/helpdesk", input="keep this")
    assert (await client.responses.retrieve(created.id)).output_text == "kept"
    other = AsyncOpenAI(base_url=f"{gateway.http_url}/v1", api_key=KEYS["user"], max_retries=0)
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.delete(created.id)
    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)


async def test_store_false_keeps_nothing(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("gone"))
    created = await client.responses.create(model="default/helpdesk", input="forget this", store=False)
    assert created.output_text == "gone" and created.store is False
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="default/helpdesk", input="and?", previous_response_id=created.id)


@pytest.mark.parametrize("model", ["default/helpdesk", "default/weather"])
async def test_client_tools_come_back_as_function_call_items(client: AsyncOpenAI, upstream: FakeUpstream, model: str) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_time", '{"zone":"UTC"}', id="call_t1")]), TextReply("It is noon."))
    tool = {"type": "function", "name": "get_time", "description": "the time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}
    asked = await client.responses.create(model=model, input="What time is it?", tools=[tool])  # type: ignore[list-item]
    calls = [o for o in asked.output if o.type == "function_call"]
    assert [(c.name, c.arguments, c.call_id) for c in calls] == [("get_time", '{"zone":"UTC"}', "call_t1")]  # type: ignore[union-attr]
    answered = await client.responses.create(
        model=model,
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": "call_t1", "output": "12:00"}],
        tools=[tool],  # type: ignore[list-item]
    )
    assert answered.output_text == "It is noon."
    sent = upstream.chat_requests[-1].body["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == "call_t1" and sent[-1] == {"role": "tool", "tool_call_id": "call_t1", "content": "12:00"}
    # Answered once: a drop-in's SDK records a placeholder output for the client's call, which is not history.
    assert [m for m in sent if m["role"] == "tool"] == [sent[-1]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "default/helpdesk"}, "input"),
        ({"model": "default/helpdesk", "input": []}, "input"),
        ({"model": "default/helpdesk", "input": [{"type": "image_generation_call"}]}, "input[0].type"),
        ({"model": "default/helpdesk", "input": "hi", "background": True}, "background"),
        ({"model": "default/helpdesk", "input": "hi", "frobnicate": 1}, "frobnicate"),
        ({"model": "default/helpdesk", "input": "hi", "previous_response_id": "resp_x", "conversation": "conv_y"}, "previous_response_id"),
    ],
)
async def test_bad_requests_are_400s_naming_the_field(gateway: GatewayProcess, body: dict[str, Any], param: str) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        reply = await http.post("/v1/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


async def test_an_unknown_model_is_a_404_before_any_stream_starts(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        reply = await http.post("/v1/responses", json={"model": "default/nope", "input": "hi", "stream": True})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "model_not_found"


async def test_tools_the_gateway_runs_are_opt_in_extension_events(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    body = {"model": "default/weather", "input": "Weather in Oslo?", "stream": True}
    frames: dict[bool, list[dict[str, Any]]] = {}
    for opted_in in (False, True):
        upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny."))
        headers = {**ADMIN_HEADERS, **({"x-agentgateway-events": "tools"} if opted_in else {})}
        async with httpx.AsyncClient(base_url=gateway.http_url, headers=headers, timeout=10) as http:
            text = (await http.post("/v1/responses", json=body)).text
        frames[opted_in] = [json.loads(f.split("\ndata: ", 1)[1]) for f in text.strip().split("\n\n")]
    plain, extended = frames[False], frames[True]
    for event in plain:
        EVENTS.validate_python(event)  # nothing a strict client would refuse
    ours = [e for e in extended if e["type"].startswith("agentgateway.")]
    assert [e["type"] for e in ours] == ["agentgateway.tool_called", "agentgateway.tool_output"]
    assert ours[0]["agentgateway"]["name"] == "get_weather" and json.loads(ours[0]["agentgateway"]["arguments"]) == {"city": "Oslo"}
    assert [e["sequence_number"] for e in extended] == list(range(len(extended)))
    assert [e["type"] for e in extended if not e["type"].startswith("agentgateway.")] == [e["type"] for e in plain]
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny."))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers={**ADMIN_HEADERS, "x-agentgateway-events": "tools"}, timeout=10) as http:
        unary = (await http.post("/v1/responses", json={**body, "stream": False})).json()
    assert [e["type"] for e in unary["agentgateway"]["events"]] == ["tool_called", "tool_output"]


@pytest.mark.parametrize(("model", "stream"), [("default/weather", True), ("default/helpdesk", True), ("default/weather", False)])
async def test_a_client_that_leaves_before_the_first_token_cancels_the_run(gateway: GatewayProcess, upstream: FakeUpstream, model: str, stream: bool) -> None:
    upstream.queue(HangReply(before_headers=True))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        request = asyncio.ensure_future(http.post("/v1/responses", json={"model": model, "input": "hi", "stream": stream}))
        await upstream.wait_for_async(lambda: bool(upstream.chat_requests), timeout=5)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    await upstream.wait_for_async(lambda: upstream.chat_requests[-1].disconnected, timeout=5)


async def test_an_item_type_chat_history_cannot_hold_does_not_break_the_conversation(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # A conversation takes any item type; its history leaves out those a chat run has no place for.
    conversation = await client.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "earlier"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
        ]  # type: ignore[list-item]
    )
    upstream.queue(TextReply("still fine"))
    response = await client.responses.create(model="default/helpdesk", input="now", conversation=conversation.id)
    assert response.output_text == "still fine"
    sent = [(m["role"], m["content"]) for m in upstream.chat_requests[-1].body["messages"] if m["role"] != "system"]
    assert sent == [("user", "earlier"), ("user", "now")]
    items = await client.conversations.items.list(conversation.id, order="asc")
    assert [i.type for i in items.data][:2] == ["message", "web_search_call"]


async def test_the_docs_examples_work(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    from tests.test_e2e_conversations_rest import docs_block, docs_commands, run_curl

    unary, streamed = docs_commands("### Responses API")
    upstream.queue(TextReply("Sunny in Oslo."), TextReply("Rain in Paris."))
    assert strict_response(run_curl(unary, gateway)).output_text == "Sunny in Oslo."
    frames = run_curl(streamed, gateway, as_json=False).strip().split("\n\n")
    assert frames[-1].startswith("event: response.completed\n") and "Rain in Paris." in frames[-1]
    code = docs_block("python", "### Responses API").replace('"http://127.0.0.1:8000/v1"', repr(gateway.openai_base_url))
    printed: list[tuple[object, ...]] = []
    upstream.queue(TextReply("Sunny."), TextReply("Sunny tomorrow too."))
    await asyncio.to_thread(exec, code, {"KEY": ADMIN_KEY, "print": lambda *args: printed.append(args)})
    assert printed == [("Sunny tomorrow too.",)]
    assert [m["content"] for m in upstream.chat_requests[-1].body["messages"] if m["role"] != "system"] == ["Weather in Oslo?", "Sunny.", "And tomorrow?"]


# Approvals through the specification's approval items: a paused run answers with an
# mcp_approval_request per call; mcp_approval_response items resume it.
@pytest.mark.parametrize("stream", [False, True], ids=["unary", "streamed"])
async def test_an_approval_pause_and_resume_with_the_specifications_items(
    client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess, stream: bool
) -> None:
    from tests.test_e2e_approvals import tool_log

    ticket = 7301 if stream else 7302
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": ticket}, id=f"call_{ticket}")]))
    if stream:
        async with client.responses.stream(model="default/approver", input=f"close {ticket}") as events:
            added = [e.item for e in [e async for e in events] if e.type == "response.output_item.added"]
            paused = await events.get_final_response()
        assert [i.type for i in added] == ["mcp_approval_request"]
    else:
        paused = await client.responses.create(model="default/approver", input=f"close {ticket}")
    requests = [o for o in paused.output if o.type == "mcp_approval_request"]
    assert [(r.name, json.loads(r.arguments), r.server_label) for r in requests] == [("close_ticket", {"ticket_id": ticket}, "Approver")]  # type: ignore[union-attr]
    assert f"closed {ticket}" not in tool_log(gateway)
    upstream.queue(TextReply(f"Ticket {ticket} is closed."))
    decision = [{"type": "mcp_approval_response", "approval_request_id": requests[0].id, "approve": True}]
    resumed = await client.responses.create(model="default/approver", input=decision, previous_response_id=paused.id)  # type: ignore[arg-type]
    assert resumed.output_text == f"Ticket {ticket} is closed." and f"closed {ticket}" in tool_log(gateway)
    with pytest.raises(openai.ConflictError):  # resolved once only
        await client.responses.create(model="default/approver", input=decision, previous_response_id=paused.id)  # type: ignore[arg-type]


async def test_a_rejected_approval_keeps_the_tool_from_running(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    from tests.test_e2e_approvals import tool_log

    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 7303}, id="call_7303")]))
    paused = await client.responses.create(model="default/approver", input="close 7303")
    request_id = next(o.id for o in paused.output if o.type == "mcp_approval_request")
    upstream.queue(TextReply("I did not close it."))
    decision = [{"type": "mcp_approval_response", "approval_request_id": request_id, "approve": False, "reason": "not today"}]
    resumed = await client.responses.create(model="default/approver", input=decision)  # type: ignore[arg-type]
    assert resumed.output_text == "I did not close it." and "closed 7303" not in tool_log(gateway)
    told = next(m for m in upstream.last_request().messages if m["role"] == "tool")
    assert "not today" in told["content"]


async def test_mcp_tools_the_gateway_runs_are_mcp_call_items(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    # An SDK agent's own MCP server ("arith"), streamed: the specification's mcp_call events, in order.
    upstream.queue(ToolCallReply([ToolCall("subtract", {"a": 10, "b": 4})]), TextReply("10 - 4 = 6"))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        text = (await http.post("/v1/responses", json={"model": "default/calculator", "input": "10-4?", "stream": True})).text
    events = [EVENTS.validate_json(frame.split("\ndata: ", 1)[1]) for frame in text.strip().split("\n\n")]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type.removeprefix("response.") for e in events]
    assert kinds[2:8] == [
        "output_item.added",
        "mcp_call.in_progress",
        "mcp_call_arguments.delta",
        "mcp_call_arguments.done",
        "mcp_call.completed",
        "output_item.done",
    ]
    assert kinds[8] == "output_item.added" and kinds[-1] == "completed"
    opened, closed = events[2].item, events[7].item  # type: ignore[union-attr]
    assert opened.type == "mcp_call" and opened.status == "in_progress" and opened.output is None
    assert json.loads(events[5].arguments) == {"a": 10, "b": 4}  # type: ignore[union-attr]
    assert (closed.server_label, closed.name, closed.status, float(closed.output)) == ("arith", "subtract", "completed", 6)
    done = events[-1].response  # type: ignore[union-attr]
    assert [item.type for item in done.output] == ["mcp_call", "message"] and done.output_text == "10 - 4 = 6"
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        kept = strict_response((await http.get(f"/v1/responses/{done.id}")).json())
    assert kept.output[0].model_dump() == done.output[0].model_dump()

    # A declarative agent's catalogue tool on the gateway's MCP server "calc", unary through the
    # openai client; a local Python tool has no specification type and stays out of the output.
    client = AsyncOpenAI(base_url=f"{gateway.http_url}/v1", api_key=ADMIN_KEY)
    upstream.queue(ToolCallReply([ToolCall("calc_add", {"a": 2, "b": 3}, id="c1"), ToolCall("lookup_ticket", {"ticket_id": 7}, id="t1")]), TextReply("5"))
    unary = await client.responses.create(model="default/tooldesk", input="2+3, and ticket 7?")
    assert [item.type for item in unary.output] == ["mcp_call", "message"]
    call = unary.output[0]
    assert call.type == "mcp_call" and (call.server_label, call.name, float(call.output or "nan")) == ("calc", "calc_add", 5)

    # The next turn's model sees the call and its result, as chat history.
    upstream.queue(TextReply("Still 5."))
    await client.responses.create(model="default/tooldesk", input="Sure?", previous_response_id=unary.id)
    history = upstream.chat_requests[-1].messages
    asked = next(m for m in history if m.get("tool_calls"))
    assert [c["function"]["name"] for c in asked["tool_calls"]] == ["calc_add"]
    answered = next(m for m in history if m["role"] == "tool")
    assert answered["tool_call_id"] == asked["tool_calls"][0]["id"] and float(answered["content"]) == 5


async def test_a_drop_in_runs_with_the_history_as_its_sdk_session(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # Turn 1 runs the agent's own tool; turn 2's model sees that call and its output, as it would
    # with Runner.run(..., session=SQLiteSession(...)) in a script: both through previous_response_id
    # and through a conversation (streamed), whose items then hold what the SDK wrote back.
    conversation = await client.conversations.create()
    for continued in ("previous_response_id", "conversation"):
        upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"}, id="w1")]), TextReply("Sunny in Oslo."))
        if continued == "conversation":  # streamed: Runner.run_streamed with the session
            async with client.responses.stream(model="default/weather", input="Weather in Oslo?", conversation=conversation.id) as stream:
                first = await stream.get_final_response()
        else:
            first = await client.responses.create(model="default/weather", input="Weather in Oslo?")
        assert [o.type for o in first.output] == ["message"]  # a local tool: not an output item
        upstream.queue(TextReply("Yes, sunny."))
        follow = {"previous_response_id": first.id} if continued == "previous_response_id" else {"conversation": conversation.id}
        second = await client.responses.create(model="default/weather", input="Sure?", **follow)  # type: ignore[arg-type]
        assert second.output_text == "Yes, sunny."
        sent = upstream.chat_requests[-1].body["messages"]
        roles = [m["role"] for m in sent if m["role"] != "system"]
        assert roles == ["user", "assistant", "tool", "assistant", "user"], continued
        call = next(m for m in sent if m.get("tool_calls"))["tool_calls"][0]
        assert (call["id"], call["function"]["name"], json.loads(call["function"]["arguments"])) == ("w1", "get_weather", {"city": "Oslo"})
        assert next(m for m in sent if m["role"] == "tool")["tool_call_id"] == "w1"
        assert [m["content"] for m in sent if m["role"] == "user"] == ["Weather in Oslo?", "Sure?"]
    items = await client.conversations.items.list(conversation.id, order="asc")
    kinds = [item.type for item in items.data]
    assert kinds == ["message", "function_call", "function_call_output", "message", "message", "message"]
    assert len({item.id for item in items.data}) == len(kinds)  # the gateway's own ids, unique
