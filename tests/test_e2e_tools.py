"""Gateway tools end to end: ToolService, gateway_tool in SDK agents, MCP servers (stdio and
streamable HTTP), HTTP tools with SSRF defences, the declarative tool loop, and the REST opt-in
tool-event extension."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import grpc
import httpx
import openai
import pytest
from google.protobuf import struct_pb2
from openai import AsyncOpenAI

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import tool_service_pb2 as tool_pb
from agentgateway.v1 import tool_service_pb2_grpc as tool_grpc
from tests.conftest import ADMIN_HEADERS, KEYS
from tests.docs_server import DocsServer
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess
from tests.grpc_auth import authed_channel
from tests.test_e2e_grpc import error_info

pytestmark = pytest.mark.asyncio


def args(**values: object) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


async def invoke(channel: grpc.aio.Channel, name: str, timeout: float | None = 20, **values: object) -> tool_pb.InvokeToolResponse:
    return await tool_grpc.ToolServiceStub(channel).InvokeTool(tool_pb.InvokeToolRequest(name=name, arguments=args(**values)), timeout=timeout)


async def test_list_and_get_tools_filtered_by_key(gateway: GatewayProcess, channel: grpc.aio.Channel) -> None:
    stub = tool_grpc.ToolServiceStub(channel)
    listed = {t.tool_name: t for t in (await stub.ListTools(tool_pb.ListToolsRequest())).tools}
    assert {"lookup_ticket", "fetch_doc", "calc_add", "remote_add"} <= set(listed)
    assert listed["lookup_ticket"].kind == tool_pb.TOOL_KIND_PYTHON and listed["calc_add"].kind == tool_pb.TOOL_KIND_MCP
    assert listed["fetch_doc"].kind == tool_pb.TOOL_KIND_HTTP
    schema = listed["lookup_ticket"].parameters
    assert schema["properties"]["ticket_id"]["type"] == "integer" and list(schema["required"]) == ["ticket_id"]
    assert (await stub.GetTool(tool_pb.GetToolRequest(name="tools/calc_add"))).tool.name == "tools/calc_add"
    async with authed_channel(gateway.grpc_address, KEYS["user"]) as user_channel:
        user_stub = tool_grpc.ToolServiceStub(user_channel)
        assert [t.tool_name for t in (await user_stub.ListTools(tool_pb.ListToolsRequest())).tools] == []  # user may use get_weather/check_status only
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await invoke(user_channel, "lookup_ticket", ticket_id=1)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED and "key:user tools" in denied.value.details()


async def test_invoke_python_tool_and_errors(channel: grpc.aio.Channel) -> None:
    reply = await invoke(channel, "lookup_ticket", ticket_id=42)
    assert json.loads(reply.output) == {"id": 42, "status": "open", "title": "Ticket 42"}
    assert reply.duration.ToNanoseconds() > 0
    cases = [
        ("nope", {}, grpc.StatusCode.NOT_FOUND, "TOOL_NOT_FOUND"),
        ("lookup_ticket", {"ticket_id": "forty-two"}, grpc.StatusCode.INVALID_ARGUMENT, "TOOL_ARGUMENTS_INVALID"),
        ("lookup_ticket", {}, grpc.StatusCode.INVALID_ARGUMENT, "TOOL_ARGUMENTS_INVALID"),
        ("explode", {"reason": "on purpose"}, grpc.StatusCode.INTERNAL, "TOOL_FAILED"),
        ("sleepy", {"seconds": 5}, grpc.StatusCode.DEADLINE_EXCEEDED, "TOOL_TIMEOUT"),
    ]
    for name, values, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await invoke(channel, name, **values)
        assert (caught.value.code(), error_info(caught.value).reason) == (code, reason), name
        if reason == "TOOL_FAILED":
            assert "exploded: on purpose" in caught.value.details()
        if reason == "TOOL_ARGUMENTS_INVALID":
            assert "ticket_id" in caught.value.details()


async def test_blocking_sync_tool_does_not_stall_other_requests(channel: grpc.aio.Channel, client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    slow = asyncio.ensure_future(invoke(channel, "blocking", seconds=2))
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    upstream.queue(TextReply("still here"))
    reply = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
    fast = await invoke(channel, "lookup_ticket", ticket_id=1)
    elapsed = time.perf_counter() - started
    assert reply.choices[0].message.content == "still here" and json.loads(fast.output)["id"] == 1
    assert not slow.done() and elapsed < 1.5  # served while the sync tool was still blocking its thread
    assert (await slow).output == "blocked 2.0s"


async def test_mcp_tools_stdio_and_http_reuse_one_session(gateway: GatewayProcess, channel: grpc.aio.Channel) -> None:
    for _ in range(5):
        assert float((await invoke(channel, "calc_add", a=2, b=3)).output) == 5
        assert float((await invoke(channel, "remote_add", a=4, b=5)).output) == 9
    results = await asyncio.gather(*(invoke(channel, "calc_echo", text=f"n{i}") for i in range(10)))
    assert sorted(r.output for r in results) == sorted(f"n{i}" for i in range(10))
    starts = (gateway.agents_dir.parent / "calc-starts").read_text().split()
    assert len(starts) == 1  # the stdio server was started once: one session for every call
    stats = json.loads((await invoke(channel, "remote_stats")).output)
    assert stats["handshakes"] == 1  # the HTTP server saw one session handshake
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(channel, "calc_fail")
    assert error_info(caught.value).reason == "TOOL_FAILED"


async def test_http_tool_and_ssrf_defences(gateway: GatewayProcess, channel: grpc.aio.Channel, docs_server: DocsServer) -> None:
    reply = json.loads((await invoke(channel, "fetch_doc", path="guide.md")).output)
    assert reply == {"path": "/docs/guide.md", "authorized": True}  # the env-sourced header was sent
    # A model-supplied argument stays one encoded path segment on the configured host.
    escaped = json.loads((await invoke(channel, "fetch_doc", path="../../admin?x=1#frag")).output)
    assert escaped["path"] == "/docs/..%2F..%2Fadmin%3Fx%3D1%23frag"
    for path, needle in (("redirect-out", "evil.example"), ("redirect-meta", "169.254.169.254")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await invoke(channel, "fetch_doc", path=path)
        assert error_info(caught.value).reason == "TOOL_FAILED" and needle in caught.value.details()
    assert not any("evil" in r["path"] or "meta-data" in r["path"] for r in docs_server.received)
    assert "docs-token-value" not in gateway.log_text()


async def test_declarative_agent_runs_gateway_tools_in_a_streamed_loop(client: AsyncOpenAI, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    upstream.queue(
        TextReply("Let me check. ", chunks=2),
        model="tooldesk-model",
    )
    upstream.queue(
        ToolCallReply(
            [
                ToolCall("lookup_ticket", {"ticket_id": 7}, id="c1"),
                ToolCall("calc_add", {"a": 1, "b": 2}, id="c2"),
                ToolCall("remote_add", {"a": 2, "b": 2}, id="c3"),
            ]
        ),
        model="tooldesk-model",
    )
    upstream.queue(TextReply("Ticket 7 is open; 1+2=3."), model="tooldesk-model")
    # First turn answers with text only: no tools run.
    first = await client.chat.completions.create(model="default/tooldesk", messages=[{"role": "user", "content": "hi"}])
    assert first.choices[0].message.content == "Let me check. "
    stream = await client.chat.completions.create(
        model="default/tooldesk", messages=[{"role": "user", "content": "ticket 7 and 1+2"}], stream=True, stream_options={"include_usage": True}
    )
    content, finishes, tool_deltas, usage = "", [], 0, None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            content += choice.delta.content or ""
            tool_deltas += len(choice.delta.tool_calls or [])
            finishes += [choice.finish_reason] if choice.finish_reason else []
    assert content == "Ticket 7 is open; 1+2=3." and finishes == ["stop"] and tool_deltas == 0
    assert usage is not None and usage.prompt_tokens > 0
    sent = upstream.chat_requests[-1]
    assert {t["function"]["name"] for t in sent.body["tools"]} == {"lookup_ticket", "calc_add", "remote_add", "explode"}
    tool_messages = {m["tool_call_id"]: m["content"] for m in sent.messages if m["role"] == "tool"}
    # Python, stdio MCP and streamable-HTTP MCP tools, run in one parallel round.
    assert json.loads(tool_messages["c1"])["id"] == 7 and float(tool_messages["c2"]) == 3 and float(tool_messages["c3"]) == 4


async def test_declarative_tool_events_over_grpc_and_max_hops(channel: grpc.aio.Channel, upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    upstream.queue(ToolCallReply([ToolCall("explode", {"reason": "x"}, id="e1")]), TextReply("It failed."), model="tooldesk-model")
    stub = ex_grpc.ExecutorServiceStub(channel)
    events = [
        r.event
        async for r in stub.StreamChatCompletion(
            ex_pb.StreamChatCompletionRequest(chat=pb.ChatRequest(model="default/tooldesk", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="go")]))
        )
    ]
    called = next(e.tool_called for e in events if e.WhichOneof("event") == "tool_called")
    output = next(e.tool_output for e in events if e.WhichOneof("event") == "tool_output")
    assert (called.name, called.source) == ("explode", pb.TOOL_SOURCE_GATEWAY)
    assert output.call_id == "e1" and output.output.startswith("Error:") and "exploded: x" in output.output  # the model saw the failure
    assert events[-1].final_output.text == "It failed."
    # max_tool_hops: 2 -> a third round of tool calls is cut off with a clear error.
    upstream.queue(*[ToolCallReply([ToolCall("lookup_ticket", {"ticket_id": i})]) for i in range(3)], model="tooldesk-model")
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="default/tooldesk", messages=[{"role": "user", "content": "loop"}])
    assert caught.value.body["code"] == "max_tool_hops_exceeded" and "2 tool rounds" in caught.value.body["message"]


async def test_gateway_tool_in_a_drop_in_agent(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_ticket", {"ticket_id": 42}, id="t1")]), TextReply("Ticket 42 is open."))
    stub = ex_grpc.ExecutorServiceStub(channel)
    reply = await stub.CreateChatCompletion(
        ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/ticketbot", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="42?")]))
    )
    assert reply.message.content == "Ticket 42 is open."
    called = next(e.tool_called for e in reply.events if e.WhichOneof("event") == "tool_called")
    assert (called.name, called.source, called.server) == ("lookup_ticket", pb.TOOL_SOURCE_GATEWAY, "")  # not an MCP tool
    tool_message = next(m for m in upstream.chat_requests[-1].messages if m["role"] == "tool")
    assert json.loads(tool_message["content"])["id"] == 42


async def test_gateway_tool_backed_by_a_streamable_http_mcp_server(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("remote_add", {"a": 20, "b": 22}, id="r1")]), TextReply("42"))
    stub = ex_grpc.ExecutorServiceStub(channel)
    reply = await stub.CreateChatCompletion(
        ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/remotecalc", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="20+22")]))
    )
    output = next(e.tool_output for e in reply.events if e.WhichOneof("event") == "tool_output")
    assert float(output.output) == 42 and (output.source, output.server) == (pb.TOOL_SOURCE_GATEWAY, "remote")
    stats = json.loads((await invoke(channel, "remote_stats")).output)
    assert stats["handshakes"] == 1  # still the one session opened at start-up


async def test_sdk_agent_with_its_own_mcp_server(gateway: GatewayProcess, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    for a, b in ((10, 4), (9, 3)):
        upstream.queue(ToolCallReply([ToolCall("subtract", {"a": a, "b": b})]), TextReply(str(a - b)))
        reply = await stub.CreateChatCompletion(
            ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/calculator", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=f"{a}-{b}")]))
        )
        output = next(e.tool_output for e in reply.events if e.WhichOneof("event") == "tool_output")
        assert float(output.output) == a - b and (output.source, output.server) == (pb.TOOL_SOURCE_MCP, "arith")
    assert gateway.log_text().count('"msg": "MCP server connected", "server": "arith"') == 1  # connected once, reused


async def test_sdk_agent_with_its_own_streamable_http_mcp_server(gateway: GatewayProcess, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    for a, b in ((2, 3), (40, 2)):
        upstream.queue(ToolCallReply([ToolCall("add", {"a": a, "b": b})]), TextReply(str(a + b)))
        reply = await stub.CreateChatCompletion(
            ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/httpmcp", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=f"{a}+{b}")]))
        )
        output = next(e.tool_output for e in reply.events if e.WhichOneof("event") == "tool_output")
        assert int(output.output) == a + b and output.source == pb.TOOL_SOURCE_MCP
        assert reply.message.content == str(a + b)
    assert gateway.log_text().count('"msg": "MCP server connected", "server": "remote-calc"') == 1  # connected once, reused


async def test_denied_mcp_tool_of_an_sdk_agent_never_reaches_the_server(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("divide", {"a": 1, "b": 0}, id="d1")]), TextReply("I may not divide."))
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=KEYS["notools"], max_retries=0) as client:
        reply = await client.chat.completions.create(model="default/calculator", messages=[{"role": "user", "content": "1/0"}])
    assert reply.choices[0].message.content == "I may not divide."
    tool_message = json.dumps(next(m for m in upstream.chat_requests[-1].messages if m["role"] == "tool"))
    # Denied by the allowlist before the MCP server ran it (it would have said "division by zero").
    assert "not allowed" in tool_message and "division" not in tool_message


async def test_rest_tool_events_are_opt_in(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    body = {"model": "default/weather", "stream": True, "messages": [{"role": "user", "content": "Oslo?"}]}
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"}, id="w1")]), TextReply("Sunny."))
        plain = (await http.post("/v1/chat/completions", json=body)).text
        upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"}, id="w2")]), TextReply("Sunny."))
        opted = (await http.post("/v1/chat/completions", json=body, headers={"x-agentgateway-events": "tools"})).text
    assert "agentgateway" not in plain and "event:" not in plain
    assert "event: agentgateway.tool_called" in opted and "event: agentgateway.tool_output" in opted
    payloads = [json.loads(line[6:]) for line in opted.splitlines() if line.startswith("data: {")]
    called = next(p["agentgateway"] for p in payloads if p.get("agentgateway", {}).get("type") == "tool_called")
    assert called == {"type": "tool_called", "call_id": "w2", "name": "get_weather", "arguments": '{"city": "Oslo"}', "agent": "Weather", "source": "sdk"}
    # The official client still reads the stream: extension chunks have no choices.
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny."))
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=KEYS["admin"], max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="default/weather", messages=[{"role": "user", "content": "Oslo?"}], stream=True, extra_headers={"x-agentgateway-events": "tools"}
        )
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sunny."
    assert [c.model_extra["agentgateway"]["type"] for c in chunks if not c.choices] == ["tool_called", "tool_output"]


async def test_tools_doc_examples_parse(tmp_path: Path) -> None:
    from services.tools.config import load_tools_config

    doc = (Path(__file__).resolve().parent.parent / "docs" / "tools.md").read_text()
    blocks = [b.split("```", 1)[0] for b in doc.split("```yaml\n")[1:]]
    assert blocks
    for i, block in enumerate(blocks):
        if block.lstrip().startswith("tools:"):
            path = tmp_path / f"tools{i}.yaml"
            path.write_text(block)
            assert load_tools_config(path) is not None


async def test_metrics_count_tool_calls_by_source_and_need_an_admin_key(gateway: GatewayProcess, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    await invoke(channel, "lookup_ticket", ticket_id=3)
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny."))
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=KEYS["admin"], max_retries=0) as client:
        await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Oslo?"}])
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        text = (await http.get("/metrics", headers=ADMIN_HEADERS)).text
        assert (await http.get("/metrics", headers={"authorization": f"Bearer {KEYS['user']}"})).status_code == 403
        assert (await http.get("/metrics")).status_code == 401
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert samples['agentgateway_tool_calls_total{outcome="ok",source="gateway",tool="lookup_ticket"}'] >= 1
    assert samples['agentgateway_tool_calls_total{outcome="ok",source="sdk",tool="get_weather"}'] >= 1
    assert samples['agentgateway_requests_total{model="default/weather",outcome="ok"}'] >= 1


async def test_refresh_tools_reloads_and_a_bad_file_keeps_the_old_catalogue(upstream: FakeUpstream, tmp_path: Path) -> None:
    from tests.conftest import ADMIN_KEY, GATEWAY_ENV, write_config
    from tests.gateway_process import make_agents_dir

    config_dir = write_config(tmp_path / "config", upstream)
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), config_dir, tmp_path / "gw.log", env_extra=GATEWAY_ENV).start()
    try:
        async with authed_channel(gateway.grpc_address, ADMIN_KEY) as admin:
            stub = tool_grpc.ToolServiceStub(admin)
            before = (await stub.RefreshTools(tool_pb.RefreshToolsRequest())).tool_count
            tools_yaml = config_dir / "tools.yaml"
            good = tools_yaml.read_text()
            tools_yaml.write_text("tools: [{name: x, kind: nonsense}]")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.RefreshTools(tool_pb.RefreshToolsRequest())
            assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION and error_info(caught.value).reason == "TOOLS_CONFIG_INVALID"
            assert json.loads((await invoke(admin, "lookup_ticket", ticket_id=5)).output)["id"] == 5  # old catalogue still serves
            tools_yaml.write_text(good.replace("name: explode", "name: explode_renamed"))
            assert (await stub.RefreshTools(tool_pb.RefreshToolsRequest())).tool_count == before
            names = {t.tool_name for t in (await stub.ListTools(tool_pb.ListToolsRequest())).tools}
            assert "explode_renamed" in names and "explode" not in names
        async with authed_channel(gateway.grpc_address, KEYS["user"]) as user_channel:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await tool_grpc.ToolServiceStub(user_channel).RefreshTools(tool_pb.RefreshToolsRequest())
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        assert gateway.terminate() == 0
