"""The official Node ``openai`` client (npm, installed by ``make`` into tools/node_modules)
against the real gateway and the fake upstream: what a TypeScript app sees, drop-ins, client
tools, approvals, a streamed workflow, a streamed Responses-API response, conversations and
errors included."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import REPO, GatewayProcess

pytestmark = pytest.mark.asyncio

NODE = shutil.which("node")
SCRIPT = REPO / "tests" / "node_client" / "scenarios.cjs"
NODE_MODULES = REPO / "tools" / "node_modules"


async def node(gateway: GatewayProcess, scenario: str) -> Any:
    assert NODE is not None, "node is required (Node 20 ships with this machine image)"
    assert (NODE_MODULES / "openai").is_dir(), "run `make tools` (make test does) to install the Node openai client"
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES), "GATEWAY_URL": gateway.openai_base_url, "GATEWAY_KEY": ADMIN_KEY}
    proc = await asyncio.create_subprocess_exec(NODE, str(SCRIPT), scenario, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    result = json.loads(out or b"{}")
    assert proc.returncode == 0 and "crashed" not in result, (result, err.decode())
    return result


async def test_chat_and_usage(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("It is sunny."))
    result = await node(gateway, "chat")
    assert (result["content"], result["finish"]) == ("It is sunny.", "stop")
    assert result["usage"]["completion_tokens"] == 3


async def test_streaming(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("one two three four", chunks=4))
    result = await node(gateway, "stream")
    assert (result["content"], result["finish"]) == ("one two three four", "stop")


async def test_client_tools_on_a_drop_in(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_order", {"order_id": "7"})]))
    result = await node(gateway, "client_tool")
    assert result["finish"] == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for c in result["calls"]] == [("lookup_order", {"order_id": "7"})]
    upstream.queue(ToolCallReply([ToolCall("lookup_order", {"order_id": "7"})]))
    streamed = await node(gateway, "client_tool_stream")
    assert streamed["finish"] == "tool_calls" and streamed["calls"][0]["id"]
    assert [(c["name"], json.loads(c["arguments"])) for c in streamed["calls"]] == [("lookup_order", {"order_id": "7"})]


async def test_an_approval_pause_and_resume(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    # The unknown finish_reason and the extension field pass through the Node client untouched.
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 42})]), TextReply("Ticket 42 is closed."))
    result = await node(gateway, "approval")
    assert result["finish"] == "approval_required" and result["approval_id"] and result["tools"] == ["close_ticket"]
    assert result["resumed"] == "Ticket 42 is closed."


async def test_a_workflow_export_streams(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply('{"verdict": "safe"}'), TextReply('{"classification": "return_item"}'), TextReply("A replacement is on its way.", chunks=5))
    result = await node(gateway, "workflow_stream")
    assert (result["content"], result["finish"]) == ("A replacement is on its way.", "stop")


async def test_errors_are_the_clients_own_error_classes(gateway: GatewayProcess) -> None:
    result = await node(gateway, "not_found")
    assert result == {"raised": True, "status": 404, "code": "model_not_found", "is_not_found": True}


async def test_a_streamed_response(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("one two three four", chunks=4))
    result = await node(gateway, "responses_stream")
    events = result["events"]
    # The Open Responses sequence, numbered from 0 without a gap, as the Node client hands it over.
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert deltas >= 2
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    item_id = events[2]["item_id"]
    assert item_id and all(e["item_id"] == item_id and e["output_index"] == 0 for e in events[2:-1])
    assert result["text"] == result["final_text"] == result["kept_text"] == "one two three four"
    assert result["status"] == "completed" and result["kept_item_ids"] == [item_id]


async def test_a_conversation(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Sunny in Oslo."))
    result = await node(gateway, "conversation")
    assert result["id"].startswith("conv_") and (result["object"], result["metadata"]) == ("conversation", {"from": "node"})
    assert result["reply"] == "Sunny in Oslo."
    assert result["items"] == [["message", "user", "I live in Oslo."], ["message", "user", "Weather where I live?"], ["message", "assistant", "Sunny in Oslo."]]
    assert result["deleted"] == {"id": result["id"], "object": "conversation.deleted", "deleted": True}
    sent = [m["content"] for m in upstream.chat_requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["I live in Oslo.", "Weather where I live?"]
