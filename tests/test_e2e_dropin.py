"""Drop-in SDK agents end to end: the official openai client -> shim -> gRPC -> SDK -> fake upstream."""

from __future__ import annotations

import json
from typing import Any

import grpc
import openai
import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from tests.conftest import ADMIN_KEY, UPSTREAM_KEY
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.asyncio


async def test_non_streaming_reply_and_usage(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("It is sunny today."))
    reply = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Hi"}])
    assert reply.object == "chat.completion"
    assert reply.model == "default/weather"
    assert reply.choices[0].message.content == "It is sunny today."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 4 and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_streaming_deltas_arrive_in_order_with_usage(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("one two three four five six", chunks=6))
    stream = await client.chat.completions.create(
        model="default/weather", messages=[{"role": "user", "content": "count"}], stream=True, stream_options={"include_usage": True}
    )
    deltas, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.choices:
            if chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert len(deltas) == 6
    assert "".join(deltas) == "one two three four five six"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 6


async def test_whole_conversation_reaches_upstream(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Paris is still sunny."))
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Sunny in Paris."},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]
    reply = await client.chat.completions.create(model="default/weather", messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Paris is still sunny."
    sent = upstream.last_request().messages
    texts = [(m["role"], m["content"] if isinstance(m["content"], str) else "".join(p.get("text", "") for p in m["content"])) for m in sent]
    # The agent's own instructions come first, then every earlier turn in order.
    assert texts[0][0] == "system" and "weather assistant" in texts[0][1]
    assert texts[1:] == [("system", "Be terse."), ("user", "Weather in Paris?"), ("assistant", "Sunny in Paris."), ("user", "And tomorrow?")]


async def test_earlier_tool_calls_in_the_conversation_reach_upstream(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Done."))
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Snow in Oslo"},
        {"role": "user", "content": "Thanks"},
    ]
    await client.chat.completions.create(model="default/weather", messages=messages)  # type: ignore[arg-type]
    sent = upstream.last_request().messages
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    tool = next(m for m in sent if m["role"] == "tool")
    assert tool["tool_call_id"] == "call_1" and tool["content"] == "Snow in Oslo"


async def test_sdk_function_tool_runs_server_side(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Lisbon"}, id="call_w1")]), TextReply("Lisbon: sunny and 21."))
    stream = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Lisbon?"}], stream=True)
    content, finishes, tool_deltas = "", [], 0
    async for chunk in stream:
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        tool_deltas += len(choice.delta.tool_calls or [])
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
    # Server-side tools are never reported to OpenAI clients as tool_calls.
    assert tool_deltas == 0 and finishes == ["stop"]
    assert content == "Lisbon: sunny and 21."
    second = upstream.chat_requests[-1].messages
    tool_result = next(m for m in second if m["role"] == "tool")
    assert tool_result["tool_call_id"] == "call_w1"
    assert "Lisbon" in tool_result["content"] and "21" in tool_result["content"]


async def test_handoff_reaches_the_specialist(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("transfer_to_billing", {})]), TextReply("Billing here: your refund is on its way."))
    reply = await client.chat.completions.create(model="default/triage", messages=[{"role": "user", "content": "Refund please"}])
    assert reply.choices[0].message.content == "Billing here: your refund is on its way."
    first, second = upstream.chat_requests[-2:]
    assert {t["function"]["name"] for t in first.body["tools"]} >= {"transfer_to_billing", "transfer_to_support"}
    # The second upstream call runs the Billing agent: its instructions lead the prompt.
    assert "billing" in second.messages[0]["content"].lower()


async def test_input_guardrail_is_a_400_naming_the_guardrail(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="default/guarded", messages=[{"role": "user", "content": "my password is hunter2"}])
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["code"] == "guardrail_triggered"
    assert "no_secrets" in error["message"]
    assert upstream.chat_requests == []  # blocking guardrail: the model never saw the input


async def test_output_guardrail_after_stream_started_ends_with_content_filter(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("this is forbidden text", chunks=4))
    stream = await client.chat.completions.create(model="default/outputguarded", messages=[{"role": "user", "content": "say it"}], stream=True)
    content, finish = "", None
    async for chunk in stream:
        content += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    # The SDK runs output guardrails once the whole output is in, and its stream_events() raises
    # the tripwire as soon as it is stored, without draining deltas still queued (it drains only
    # for MaxTurnsExceeded): a loaded machine may lose the last ones, as the SDK itself would.
    # What the client got is the reply's beginning, then the content filter.
    assert "this is forbidden text".startswith(content)
    assert finish == "content_filter"


async def test_output_guardrail_non_streaming_is_400(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("forbidden"))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="default/outputguarded", messages=[{"role": "user", "content": "say it"}])
    assert caught.value.body["code"] == "guardrail_triggered"
    assert "no_forbidden_words" in caught.value.body["message"]


async def test_structured_output_is_json_text(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply('{"name": "Ann Lee", "email": "ann@example.org"}'))
    reply = await client.chat.completions.create(model="default/extractor", messages=[{"role": "user", "content": "Ann Lee, ann@example.org"}])
    assert json.loads(reply.choices[0].message.content or "") == {"name": "Ann Lee", "email": "ann@example.org"}
    # The SDK asked the upstream for the output_type's schema.
    response_format = upstream.last_request().body["response_format"]
    assert response_format["type"] == "json_schema"
    assert set(response_format["json_schema"]["schema"]["properties"]) == {"name", "email"}


async def test_agent_builder_workflow_export(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("1. Pack 2. Go"))
    for model in ("labs/planner", "planner"):  # id and alias
        if model == "planner":
            upstream.queue(TextReply("1. Pack 2. Go"))
        stream = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Plan a trip"}], stream=True)
        content = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert content == "1. Pack 2. Go"
    # The workflow's own Runner.run was routed to the gateway's upstream.
    sent = upstream.last_request().messages
    assert sent[-1]["role"] == "user"
    user_text = sent[-1]["content"] if isinstance(sent[-1]["content"], str) else sent[-1]["content"][0]["text"]
    assert user_text == "Plan a trip"


async def test_agent_builder_workflow_reports_usage(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("1. Pack 2. Go"))
    reply = await client.chat.completions.create(model="labs/planner", messages=[{"role": "user", "content": "Plan a trip"}])
    assert reply.choices[0].message.content == "1. Pack 2. Go"
    assert reply.usage is not None and reply.usage.completion_tokens == 4 and reply.usage.prompt_tokens > 0


async def test_async_factory_export(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("built"))
    reply = await client.chat.completions.create(model="labs/asyncfactory", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "built"
    assert "async factory" in upstream.last_request().messages[0]["content"]


async def test_sampling_parameters_reach_the_model(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("ok"))
    await client.chat.completions.create(
        model="default/weather", messages=[{"role": "user", "content": "hi"}], temperature=0.3, top_p=0.9, max_tokens=50, seed=7, stop=["END"]
    )
    body = upstream.last_request().body
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["max_tokens"] == 50
    assert body["seed"] == 7 and body["stop"] == ["END"]


async def test_gateway_key_never_reaches_upstream(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("ok"))
    await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
    headers = upstream.last_request().headers
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert ADMIN_KEY not in json.dumps(headers)


async def test_an_agent_without_model_or_settings_sends_only_what_was_set(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # The SDK gives such an agent its default GPT-5 model's settings (reasoning effort,
    # verbosity); the gateway runs it on the upstream's model, so those must not go upstream.
    upstream.queue(TextReply("Sunny."), TextReply("Sunny."))
    await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Hi"}])
    assert set(upstream.last_request().body) == {"model", "messages", "tools"}
    assert upstream.last_request().body["model"] == "fake-model"
    stream = await client.chat.completions.create(model="default/weather", stream=True, messages=[{"role": "user", "content": "Hi"}])
    async for _ in stream:
        pass
    assert set(upstream.last_request().body) == {"model", "messages", "tools", "stream", "stream_options"}
    # What the request sets still goes, and handoff targets get the same treatment.
    upstream.queue(ToolCallReply([ToolCall("transfer_to_billing", {})]), TextReply("Billing here."))
    await client.chat.completions.create(model="default/triage", temperature=0.3, messages=[{"role": "user", "content": "billing"}])
    bodies = [r.body for r in upstream.chat_requests[-2:]]
    assert all(b["temperature"] == 0.3 and "reasoning_effort" not in b and "verbosity" not in b for b in bodies)


@pytest.mark.parametrize(
    ("tool_choice", "sent"),
    [
        ("required", "required"),
        ("none", "none"),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
async def test_tool_choice_reaches_the_model_of_a_drop_in(client: AsyncOpenAI, upstream: FakeUpstream, tool_choice: Any, sent: Any) -> None:
    upstream.queue(TextReply("Sunny."))
    await client.chat.completions.create(model="default/weather", tool_choice=tool_choice, messages=[{"role": "user", "content": "Paris?"}])
    assert upstream.last_request().body["tool_choice"] == sent


async def test_a_forced_tool_is_forced_once(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # After the forced call the SDK resets tool_choice, so the agent can answer (no loop).
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Paris"})]), TextReply("Sunny in Paris."))
    reply = await client.chat.completions.create(model="default/weather", tool_choice="required", messages=[{"role": "user", "content": "Paris?"}])
    assert reply.choices[0].message.content == "Sunny in Paris."
    first, second = (r.body for r in upstream.chat_requests[-2:])
    assert first["tool_choice"] == "required" and "tool_choice" not in second


async def test_a_reply_cut_at_the_token_limit_says_length(client: AsyncOpenAI, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    upstream.queue(TextReply("It is sun", finish_reason="length"), TextReply("It is sun", finish_reason="length"))
    reply = await client.chat.completions.create(model="default/weather", max_tokens=3, messages=[{"role": "user", "content": "Hi"}])
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == ("It is sun", "length")
    stream = await client.chat.completions.create(model="default/weather", max_tokens=3, stream=True, messages=[{"role": "user", "content": "Hi"}])
    assert [c.choices[0].finish_reason async for c in stream if c.choices and c.choices[0].finish_reason] == ["length"]
    upstream.queue(TextReply("It is sun", finish_reason="length"))
    events = ex_grpc.ExecutorServiceStub(channel).StreamChatCompletion(
        ex_pb.StreamChatCompletionRequest(chat=pb.ChatRequest(model="default/weather", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="Hi")]))
    )
    finals = [e.event.final_output for e in [e async for e in events] if e.event.HasField("final_output")]
    assert [f.finish_reason for f in finals] == [pb.FINISH_REASON_LENGTH]


async def test_a_turn_that_ran_tools_inside_finishes_with_stop(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny in Oslo."))
    reply = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Oslo?"}])
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls


class CityReport(BaseModel):
    city: str
    temperature_c: int


async def test_response_format_json_schema_gives_a_drop_in_structured_output(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # The demo reply (no script) fills the requested schema: the client's parse() must work.
    completion = await client.chat.completions.parse(model="default/weather", response_format=CityReport, messages=[{"role": "user", "content": "Report Oslo"}])
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, CityReport) and parsed.temperature_c == 1
    sent = upstream.last_request().body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
    assert set(sent["json_schema"]["schema"]["properties"]) == {"city", "temperature_c"}
    stream = await client.chat.completions.create(
        model="default/weather", stream=True, messages=[{"role": "user", "content": "Report Oslo"}], response_format=_json_schema_format(CityReport)
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert CityReport.model_validate_json(text).city


async def test_response_format_that_conflicts_with_the_agents_output_type_is_a_400(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.parse(model="default/extractor", response_format=CityReport, messages=[{"role": "user", "content": "Bo"}])
    assert caught.value.body["code"] == "invalid_argument" and caught.value.body["param"] == "response_format"  # type: ignore[index]


async def test_a_reply_that_breaks_the_requested_schema_is_a_502(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply('{"city": "Oslo"}'))  # temperature_c missing
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.parse(model="default/weather", response_format=CityReport, messages=[{"role": "user", "content": "Report Oslo"}])
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_bad_response"  # type: ignore[index]


def _json_schema_format(model: type[BaseModel]) -> Any:
    from openai.lib._pydantic import to_strict_json_schema

    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": to_strict_json_schema(model), "strict": True}}


async def test_agent_code_sees_who_is_asking(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    upstream.queue(ToolCallReply([ToolCall("whoami", {})]), TextReply("Done."))
    reply = await client.chat.completions.create(
        model="default/contextual",
        user="end-user-7",
        metadata={"tenant": "acme"},
        messages=[{"role": "user", "content": "who am I?"}],
        extra_headers={"x-request-id": "req-ctx-1"},
    )
    assert reply.choices[0].message.content == "Done."
    first, second = (r.body for r in upstream.chat_requests[-2:])
    # The run context, built by the module from the request info, shaped the instructions.
    assert first["messages"][0] == {"role": "system", "content": "You serve admin (roles: admin)."}
    # request_info() inside a tool: key id (never the key), request id, user, metadata, model id.
    tool_output = next(m for m in second["messages"] if m["role"] == "tool")["content"]
    assert tool_output == "admin|req-ctx-1|end-user-7|{'tenant': 'acme'}|default/contextual"
    assert ADMIN_KEY not in json.dumps(second)
    # The module's RunHooks ran for this request.
    assert "start Contextual req-ctx-1" in (gateway.agents_dir.parent / "hooks.log").read_text()


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_waiting_for_approval_is_never_a_silent_empty_answer(
    client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess, stream: bool
) -> None:
    """The paused run says what waits and how to go on (the whole flow: test_e2e_approvals.py)."""
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 42})]))
    if stream:
        chunks = [
            c async for c in await client.chat.completions.create(model="default/approver", stream=True, messages=[{"role": "user", "content": "close 42"}])
        ]
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        reply = await client.chat.completions.create(model="default/approver", messages=[{"role": "user", "content": "close 42"}])
        content, finish = reply.choices[0].message.content or "", reply.choices[0].finish_reason
    assert finish == "approval_required"
    assert "close_ticket" in content and '"ticket_id": 42' in content and "POST /v1/approvals/apr_" in content
    log = gateway.agents_dir.parent / "hooks.log"
    assert "closed 42" not in (log.read_text() if log.exists() else "")  # the tool never ran


async def test_agent_builder_workflow_sees_the_whole_conversation(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("1. Book Paris 2. Go"))
    conversation: list[Any] = [
        {"role": "user", "content": "Plan a trip"},
        {"role": "assistant", "content": "Where to?"},
        {"role": "user", "content": "Paris"},
    ]
    reply = await client.chat.completions.create(model="planner", messages=conversation)
    assert reply.choices[0].message.content == "1. Book Paris 2. Go"
    texts = [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"] for m in upstream.last_request().messages if m["role"] != "system"]
    assert texts == ["Plan a trip", "Where to?", "Paris"]  # earlier turns first, then the workflow's own input


async def test_a_hosted_tool_on_a_chat_completions_upstream_is_a_400_not_a_500(client: AsyncOpenAI, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="default/searcher", messages=[{"role": "user", "content": "news?"}])
    body: Any = caught.value.body
    assert body["code"] == "hosted_tool_unsupported" and "'web_search'" in body["message"] and "'fake'" in body["message"]
    assert upstream.chat_requests == []  # refused before anything went upstream
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(
            ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/searcher", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="news?")]))
        )
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_agent_hooks_and_stop_on_first_tool(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    upstream.queue(ToolCallReply([ToolCall("ticket_status", {"ticket_id": 7})]))
    reply = await client.chat.completions.create(model="default/stopper", messages=[{"role": "user", "content": "ticket 7?"}])
    assert reply.choices[0].message.content == "ticket 7: open"  # the tool's output is the answer
    assert len(upstream.chat_requests) == 1  # no second model call
    log = (gateway.agents_dir.parent / "hooks.log").read_text()
    assert "agent_start Stopper" in log and "tool_end ticket_status ticket 7: open" in log


async def test_an_agent_used_as_a_tool(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("translate", {"input": "hola"})]), TextReply("hello"), TextReply("It means hello."))
    reply = await client.chat.completions.create(model="default/orchestrator", messages=[{"role": "user", "content": "What is hola?"}])
    assert reply.choices[0].message.content == "It means hello."
    outer, inner, final = (r.body for r in upstream.chat_requests[-3:])
    assert inner["messages"][0] == {"role": "system", "content": "Translate Spanish to English."}  # the nested agent ran, routed too
    assert inner["model"] == outer["model"] == "fake-model"
    assert any(m["role"] == "tool" and m["content"] == "hello" for m in final["messages"])


async def test_a_tool_input_guardrail_rejecting_tells_the_model_and_the_run_goes_on(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_account", {"account": "admin"})]), TextReply("I may not look that up."))
    reply = await client.chat.completions.create(model="default/toolguarded", messages=[{"role": "user", "content": "admin?"}])
    assert reply.choices[0].message.content == "I may not look that up."
    tool_messages = [m for m in upstream.chat_requests[-1].messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["Looking up admin accounts is not allowed."]  # the guardrail's message, not the tool's


async def test_a_tool_output_guardrail_keeps_the_output_from_the_model(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_account", {"account": "vault"})]), TextReply("That cannot be shown."))
    await client.chat.completions.create(model="default/toolguarded", messages=[{"role": "user", "content": "vault?"}])
    sent = json.dumps(upstream.chat_requests[-1].body)
    assert "hunter2" not in sent and "The lookup returned something that cannot be shown." in sent


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_guardrail_tripwire_is_a_400_naming_it(client: AsyncOpenAI, upstream: FakeUpstream, stream: bool) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_account", {"account": "root"})]))
    with pytest.raises(openai.APIStatusError) as caught:
        reply = await client.chat.completions.create(model="default/toolguarded", stream=stream, messages=[{"role": "user", "content": "root?"}])
        if stream:
            async for _ in reply:  # type: ignore[union-attr]
                pass
    if stream:  # the stream had not started: the error is still an HTTP status
        assert caught.value.status_code == 400
    body: Any = caught.value.body
    assert body["code"] == "guardrail_triggered" and "no_privileged_accounts" in body["message"]


async def test_stop_at_tools_ends_the_run_with_that_tools_output(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(
        ToolCallReply([ToolCall("lookup_account", {"account": "ann"})]),
        ToolCallReply([ToolCall("final_answer", {"text": "ann is active"})]),
    )
    reply = await client.chat.completions.create(model="default/toolguarded", messages=[{"role": "user", "content": "ann?"}])
    assert reply.choices[0].message.content == "FINAL ann is active"
    assert len(upstream.chat_requests) == 2  # lookup_account did not stop the run; final_answer did


async def test_a_tool_use_behavior_function_decides_the_final_output(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("check", {"item": "pears"})]), ToolCallReply([ToolCall("check", {"item": "apples"})]))
    reply = await client.chat.completions.create(model="default/chooser", messages=[{"role": "user", "content": "pears, then apples"}])
    assert reply.choices[0].message.content == "apples is in stock"
    assert len(upstream.chat_requests) == 2
