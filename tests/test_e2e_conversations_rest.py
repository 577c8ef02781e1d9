"""``/v1/conversations`` end to end: the official ``openai`` client against the real gateway
(both shim transports) and the fake upstream. Conversations are created, read, updated, added
to, listed, read and deleted item by item, and deleted through the client's own methods, and
carry the history of Responses-API turns. Every JSON body is parsed strictly as the ``openai`` package's own type for it: required
fields present, no field the type does not know, no unknown item type."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
from typing import Any, TypeVar

import httpx
import openai
import pydantic
import pytest
from openai import AsyncOpenAI
from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItem, ConversationItemList
from openai.types.responses import Response

from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, KEYS
from tests.fake_upstream import FakeUpstream, TextReply
from tests.gateway_process import REPO, GatewayProcess

pytestmark = pytest.mark.asyncio

T = TypeVar("T")
MODEL = "default/helpdesk"  # declarative: the upstream sees exactly the history the gateway built


def _no_extra(value: object, where: str) -> None:
    """Every model in ``value`` used only fields its type declares."""
    if isinstance(value, pydantic.BaseModel):
        assert not value.model_extra, f"{where}: fields the openai types do not know: {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            _no_extra(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_extra(item, f"{where}[{index}]")


def strict(kind: Any, data: object) -> Any:
    """``data`` as the openai type ``kind``, strictly: pydantic's strict mode, nothing extra."""
    parsed = pydantic.TypeAdapter(kind).validate_python(data, strict=True)
    _no_extra(parsed, getattr(kind, "__name__", "body"))
    return parsed


def strict_items(body: dict[str, Any]) -> list[Any]:
    """A list object of conversation items (a listing's page or an append's answer)."""
    assert set(body) == {"object", "data", "first_id", "last_id", "has_more"} and body["object"] == "list"
    items = [strict(ConversationItem, item) for item in body["data"]]
    if items:
        strict(ConversationItemList, body)
        assert (body["first_id"], body["last_id"]) == (items[0].id, items[-1].id)
    return items


async def raw(call: Any) -> dict[str, Any]:
    """The JSON body of a ``with_raw_response`` call."""
    response = await call
    assert response.http_response.status_code == 200, response.http_response.text
    body: dict[str, Any] = response.http_response.json()
    return body


def texts(items: list[Any]) -> list[tuple[str, str]]:
    return [(i.role, "".join(getattr(p, "text", "") for p in i.content)) for i in items]


@pytest.fixture
async def other(gateway: GatewayProcess) -> Any:
    """The openai client of another key."""
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=KEYS["user"], max_retries=0, timeout=30) as client:
        yield client


async def test_create_retrieve_add_list_and_delete(client: AsyncOpenAI) -> None:
    created = await raw(
        client.conversations.with_raw_response.create(
            metadata={"topic": "weather"},
            items=[{"type": "message", "role": "user", "content": "Is it sunny?"}, {"role": "assistant", "content": "Yes."}],
        )
    )
    conversation = strict(Conversation, created)
    assert conversation.id.startswith("conv_") and conversation.metadata == {"topic": "weather"} and conversation.created_at > 0
    got = strict(Conversation, await raw(client.conversations.with_raw_response.retrieve(conversation.id)))
    assert got == conversation
    added = strict_items(
        await raw(
            client.conversations.items.with_raw_response.create(
                conversation.id,
                items=[
                    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                ],
            )
        )
    )
    assert [(i.type, i.id[:3], i.status) for i in added] == [("function_call", "fc_", "completed"), ("function_call_output", "fco", "completed")]
    # OpenAI's default order is newest first.
    newest = strict_items(await raw(client.conversations.items.with_raw_response.list(conversation.id)))
    assert [i.type for i in newest] == ["function_call_output", "function_call", "message", "message"]
    oldest = strict_items(await raw(client.conversations.items.with_raw_response.list(conversation.id, order="asc")))
    assert texts(oldest[:2]) == [("user", "Is it sunny?"), ("assistant", "Yes.")]
    assert [p.type for p in oldest[0].content] == ["input_text"] and [p.type for p in oldest[1].content] == ["output_text"]
    assert all(i.status == "completed" for i in oldest)
    # Paging: limit, has_more, after; and the client's own paginator walks it all.
    first_page = await raw(client.conversations.items.with_raw_response.list(conversation.id, order="asc", limit=3))
    assert [i.id for i in strict_items(first_page)] == [i.id for i in oldest[:3]] and first_page["has_more"] is True
    rest = await raw(client.conversations.items.with_raw_response.list(conversation.id, order="asc", after=first_page["last_id"]))
    assert [i.id for i in strict_items(rest)] == [oldest[3].id] and rest["has_more"] is False
    walked = [item.id async for item in client.conversations.items.list(conversation.id, order="asc", limit=1)]
    assert walked == [i.id for i in oldest]
    deleted = strict(ConversationDeletedResource, await raw(client.conversations.with_raw_response.delete(conversation.id)))
    assert (deleted.id, deleted.object, deleted.deleted) == (conversation.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError) as gone:
        await client.conversations.retrieve(conversation.id)
    assert gone.value.code == "conversation_not_found"
    with pytest.raises(openai.NotFoundError):
        await client.conversations.items.list(conversation.id)


async def test_an_empty_conversation(client: AsyncOpenAI) -> None:
    conversation = strict(Conversation, await raw(client.conversations.with_raw_response.create()))
    assert conversation.metadata == {}
    listed = await raw(client.conversations.items.with_raw_response.list(conversation.id))
    assert listed == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    await client.conversations.delete(conversation.id)


async def test_responses_turns_accumulate_in_the_conversation(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create(items=[{"role": "user", "content": "My name is Bo."}, {"role": "assistant", "content": "Hi Bo."}])
    upstream.queue(TextReply("Oslo is nice."), TextReply("You are Bo, asking about Oslo."))
    first = await client.responses.with_raw_response.create(model=MODEL, input="Tell me about Oslo.", conversation=conversation.id)
    # Responses' own strictness is test_e2e_responses_api.py's (OpenAI sends `store`, which this
    # openai version's Response type does not declare): here, only that it is one.
    first_response = Response.model_validate(first.http_response.json())
    assert first_response.conversation is not None and first_response.conversation.id == conversation.id
    second = await client.responses.create(model=MODEL, input="Who am I and what did I ask?", conversation={"id": conversation.id})
    assert second.output_text == "You are Bo, asking about Oslo."
    first_sent, second_sent = (r.body["messages"] for r in upstream.chat_requests[-2:])
    history = [("user", "My name is Bo."), ("assistant", "Hi Bo."), ("user", "Tell me about Oslo.")]
    assert [(m["role"], m["content"]) for m in first_sent if m["role"] != "system"] == history
    assert [(m["role"], m["content"]) for m in second_sent if m["role"] != "system"] == [
        *history,
        ("assistant", "Oslo is nice."),
        ("user", "Who am I and what did I ask?"),
    ]
    items = strict_items(await raw(client.conversations.items.with_raw_response.list(conversation.id, order="asc")))
    assert texts(items) == [*history, ("assistant", "Oslo is nice."), ("user", "Who am I and what did I ask?"), ("assistant", "You are Bo, asking about Oslo.")]
    # The output items listed are the responses' own, ids included.
    assert [items[3].id, items[5].id] == [first_response.output[0].id, second.output[0].id]
    await client.conversations.delete(conversation.id)


async def test_another_key_gets_404_everywhere(client: AsyncOpenAI, other: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create(metadata={"owner": "admin"}, items=[{"role": "user", "content": "private"}])
    (item,) = (await client.conversations.items.list(conversation.id)).data
    for call in (
        other.conversations.retrieve(conversation.id),
        other.conversations.update(conversation.id, metadata={"owner": "user"}),
        # An item of another key's conversation: the conversation's 404, whether the item exists or not.
        other.conversations.items.retrieve(item.id, conversation_id=conversation.id),
        other.conversations.items.retrieve("msg_nope", conversation_id=conversation.id),
        other.conversations.items.delete(item.id, conversation_id=conversation.id),
        other.conversations.delete(conversation.id),
        other.conversations.items.list(conversation.id),
        other.conversations.items.create(conversation.id, items=[{"role": "user", "content": "sneaky"}]),
        other.responses.create(model=MODEL, input="what did they say?", conversation=conversation.id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            await call
        assert caught.value.code == "conversation_not_found"
        assert caught.value.body == {
            "message": f"no conversation {conversation.id!r}",
            "type": "invalid_request_error",
            "param": None,
            "code": "conversation_not_found",
        }
    assert upstream.chat_requests == []  # nothing ran
    listed = await client.conversations.items.list(conversation.id)
    assert texts(listed.data) == [("user", "private")]
    assert (await client.conversations.retrieve(conversation.id)).metadata == {"owner": "admin"}
    await client.conversations.delete(conversation.id)


async def test_an_update_replaces_the_metadata(client: AsyncOpenAI) -> None:
    conversation = await client.conversations.create(metadata={"topic": "weather", "lang": "en"}, items=[{"role": "user", "content": "hi"}])
    updated = strict(Conversation, await raw(client.conversations.with_raw_response.update(conversation.id, metadata={"topic": "travel"})))
    # Replaced whole, as OpenAI's update: "lang" is gone; nothing else changes.
    assert (updated.id, updated.created_at, updated.metadata) == (conversation.id, conversation.created_at, {"topic": "travel"})
    assert await client.conversations.retrieve(conversation.id) == updated
    assert len((await client.conversations.items.list(conversation.id)).data) == 1
    # metadata is required but may be null (the client's type allows it): that clears it.
    assert (await client.conversations.update(conversation.id, metadata=None)).metadata == {}
    assert (await client.conversations.retrieve(conversation.id)).metadata == {}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.conversations.update(conversation.id, metadata={"k" * 65: "v"})
    assert caught.value.body == {
        "message": "metadata keys must be strings of 1 to 64 characters",
        "type": "invalid_request_error",
        "param": "metadata",
        "code": "invalid_argument",
    }
    await client.conversations.delete(conversation.id)
    with pytest.raises(openai.NotFoundError) as gone:
        await client.conversations.update(conversation.id, metadata={"topic": "late"})
    assert gone.value.code == "conversation_not_found"


async def test_one_item_is_retrieved_and_deleted_out_of_the_history(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create(
        items=[
            {"role": "user", "content": "My name is Bo."},
            {"role": "user", "content": "My PIN is 4711, forget it."},
            {"role": "assistant", "content": "Hi Bo."},
            {"type": "message", "role": "user", "content": "A note.", "id": "notes/1"},
        ]
    )
    listed = strict_items(await raw(client.conversations.items.with_raw_response.list(conversation.id, order="asc")))
    pin = listed[1]
    got = strict(ConversationItem, await raw(client.conversations.items.with_raw_response.retrieve(pin.id, conversation_id=conversation.id)))
    assert got == pin and texts([got]) == [("user", "My PIN is 4711, forget it.")] and got.status == "completed"
    # OpenAI's `include` is accepted (and has nothing to add here); an id with "/" travels as %2F.
    included = await client.conversations.items.retrieve("notes/1", conversation_id=conversation.id, include=["message.output_text.logprobs"])
    assert included.id == "notes/1" and texts([included]) == [("user", "A note.")]
    # The delete answers with the conversation, as OpenAI's does.
    after = strict(Conversation, await raw(client.conversations.items.with_raw_response.delete(pin.id, conversation_id=conversation.id)))
    assert (after.id, after.object, after.created_at) == (conversation.id, "conversation", conversation.created_at)
    for call in (
        client.conversations.items.retrieve(pin.id, conversation_id=conversation.id),
        client.conversations.items.delete(pin.id, conversation_id=conversation.id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            await call
        assert (caught.value.code, caught.value.body["message"]) == (  # type: ignore[index]
            "conversation_item_not_found",
            f"no item {pin.id!r} in conversation {conversation.id!r}",
        )
    remaining = strict_items(await raw(client.conversations.items.with_raw_response.list(conversation.id, order="asc")))
    assert [i.id for i in remaining] == [listed[0].id, listed[2].id, "notes/1"]
    # The next turn runs on the history without it: the upstream never sees the PIN.
    upstream.queue(TextReply("You are Bo."))
    answer = await client.responses.create(model=MODEL, input="Who am I?", conversation=conversation.id)
    assert answer.output_text == "You are Bo."
    sent = [(m["role"], m["content"]) for m in upstream.chat_requests[-1].body["messages"] if m["role"] != "system"]
    assert sent == [("user", "My name is Bo."), ("assistant", "Hi Bo."), ("user", "A note."), ("user", "Who am I?")]
    assert "4711" not in json.dumps(upstream.chat_requests[-1].body)
    await client.conversations.delete(conversation.id)


async def test_a_deleted_conversation_is_404_for_responses_too(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create()
    await client.conversations.delete(conversation.id)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model=MODEL, input="hello?", conversation=conversation.id)
    assert caught.value.code == "conversation_not_found" and upstream.chat_requests == []
    with pytest.raises(openai.NotFoundError):
        await client.conversations.delete(conversation.id)


@pytest.mark.parametrize(
    ("method", "path", "body", "param", "code"),
    [
        ("POST", "/v1/conversations", {"items": [{"role": "robot", "content": "x"}]}, "items[0].role", "invalid_argument"),
        ("POST", "/v1/conversations", {"items": ["hi"]}, "items[0]", "invalid_argument"),
        ("POST", "/v1/conversations", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "invalid_argument"),
        ("POST", "/v1/conversations", {"metadata": {"n": 1}}, "metadata.n", "invalid_argument"),
        ("POST", "/v1/conversations", {"frobnicate": 1}, "frobnicate", "unknown_parameter"),
        ("POST", "/v1/conversations", "[1]", None, "invalid_json"),
        ("POST", "{conv}", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "invalid_argument"),
        ("POST", "{conv}", {"metadata": {"k": "v" * 513}}, "metadata", "invalid_argument"),
        ("POST", "{conv}", {"metadata": {"n": 1}}, "metadata.n", "invalid_argument"),
        ("POST", "{conv}", {}, "metadata", "invalid_argument"),
        ("POST", "{conv}", {"metadata": {}, "title": "x"}, "title", "unknown_parameter"),
        ("POST", "{conv}", "", None, "invalid_json"),
        ("POST", "{conv}/items", {}, "items", "invalid_argument"),
        ("POST", "{conv}/items", {"items": []}, "items", "invalid_argument"),
        (
            "POST",
            "{conv}/items",
            {"items": [{"role": "user", "content": "a", "id": "x"}, {"role": "user", "content": "b", "id": "x"}]},
            "items[1].id",
            "duplicate_item",
        ),
        ("GET", "{conv}/items?limit=0", None, "limit", "invalid_argument"),
        ("GET", "{conv}/items?limit=many", None, "limit", "invalid_argument"),
        ("GET", "{conv}/items?order=sideways", None, "order", "invalid_argument"),
        ("GET", "{conv}/items?after=msg_nope", None, "after", "invalid_argument"),
        ("GET", "{conv}/items/", None, "item_id", "invalid_argument"),
        ("DELETE", "{conv}/items/", None, "item_id", "invalid_argument"),
    ],
)
async def test_bad_requests_are_400s_naming_the_field(
    gateway: GatewayProcess, client: AsyncOpenAI, method: str, path: str, body: object, param: str | None, code: str
) -> None:
    conversation = await client.conversations.create(items=[{"role": "user", "content": "hi"}])
    url = path.replace("{conv}", f"/v1/conversations/{conversation.id}")
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        if isinstance(body, str):
            reply = await http.request(method, url, content=body, headers={"content-type": "application/json"})
        else:
            reply = await http.request(method, url, json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert len((await client.conversations.items.list(conversation.id)).data) == 1  # nothing was added
    assert (await client.conversations.retrieve(conversation.id)).metadata == {}  # nor changed
    await client.conversations.delete(conversation.id)


async def test_an_unknown_conversation_and_a_missing_key(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
        unknown = await http.get("/v1/conversations/conv_nope", headers=ADMIN_HEADERS)
        anonymous = await http.post("/v1/conversations", json={})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "conversation_not_found"
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"


def docs_block(language: str, heading: str = "### `/v1/conversations`") -> str:
    """The ``language`` code block of the docs/api.md section under ``heading``."""
    section = (REPO / "docs" / "api.md").read_text().split(f"\n{heading}\n", 1)[1].split("\n### ", 1)[0]
    block = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


def docs_commands(heading: str = "### `/v1/conversations`") -> list[str]:
    """The shell commands of a section's ``sh`` block, continuation lines joined."""
    return [c for c in docs_block("sh", heading).replace("\\\n", " ").splitlines() if c.strip()]


def run_curl(command: str, gateway: GatewayProcess, conversation_id: str = "conv_8f2e", *, item_id: str = "msg_71ac", as_json: bool = True) -> Any:
    curl = shutil.which("curl")
    assert curl is not None, "curl is required (the machine image has it)"
    text = command.replace("$AGW_KEY", ADMIN_KEY).replace("localhost:8000", gateway.http_url.removeprefix("http://"))
    text = text.replace("conv_8f2e", conversation_id).replace("msg_71ac", item_id)
    argv = shlex.split(text)
    assert argv[0] == "curl"
    out = subprocess.run([curl, *argv[1:]], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if as_json else out.stdout


async def test_the_curl_example_in_the_docs_works(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    create, respond, update, list_items, get_item, delete_item, delete = docs_commands()
    upstream.queue(TextReply("Sunny in Oslo today."))
    conversation = strict(Conversation, run_curl(create, gateway))
    assert conversation.metadata == {"topic": "demo"}
    response = Response.model_validate(run_curl(respond, gateway, conversation.id))
    assert response.output_text == "Sunny in Oslo today." and response.conversation is not None and response.conversation.id == conversation.id
    sent = upstream.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["Hi, I am Bo and I live in Oslo.", "What is the weather where I live?"]
    assert strict(Conversation, run_curl(update, gateway, conversation.id)).metadata == {"topic": "weather"}
    items = strict_items(run_curl(list_items, gateway, conversation.id))
    assert [i.role for i in items] == ["user", "user", "assistant"]
    assert strict(ConversationItem, run_curl(get_item, gateway, conversation.id, item_id=items[0].id)) == items[0]
    after = strict(Conversation, run_curl(delete_item, gateway, conversation.id, item_id=items[0].id))
    assert (after.id, after.metadata) == (conversation.id, {"topic": "weather"})
    assert [i.id for i in strict_items(run_curl(list_items, gateway, conversation.id))] == [i.id for i in items[1:]]
    assert strict(ConversationDeletedResource, run_curl(delete, gateway, conversation.id)).deleted is True


async def test_the_python_example_in_the_docs_works(gateway: GatewayProcess, client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    code = docs_block("python").replace('"http://127.0.0.1:8000/v1"', repr(gateway.openai_base_url))
    printed: list[tuple[object, ...]] = []
    namespace: dict[str, Any] = {"KEY": ADMIN_KEY, "print": lambda *args: printed.append(args)}
    upstream.queue(TextReply("No rain today."), TextReply("Rain tomorrow."))
    await asyncio.to_thread(exec, code, namespace)
    assert printed == [
        ("message", "user", "I live in Oslo."),
        ("message", "user", "Will it rain today?"),
        ("message", "assistant", "No rain today."),
        ("message", "user", "And tomorrow?"),
        ("message", "assistant", "Rain tomorrow."),
    ]
    sent = upstream.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] in ("user", "assistant")] == ["I live in Oslo.", "Will it rain today?", "No rain today.", "And tomorrow?"]
    with pytest.raises(openai.NotFoundError):
        await client.conversations.retrieve(namespace["conversation"].id)
