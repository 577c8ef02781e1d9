"""ConversationService end to end: the real gateway process, gRPC stubs and grpcurl.

The session's gateway is shared by every test (and keeps its conversations), so each test
works on conversations it made itself and checks listings for inclusion, not equality."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentgateway.v1 import conversation_service_pb2 as pb
from agentgateway.v1 import conversation_service_pb2_grpc as pb_grpc
from tests.conftest import ADMIN_KEY, GATEWAY_ENV, KEYS, write_config
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir
from tests.grpc_auth import authed_channel
from tests.test_e2e_grpc import GRPCURL, error_info

pytestmark = pytest.mark.asyncio

SERVICE = "agentgateway.v1.ConversationService"


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def user(text: str) -> struct_pb2.Struct:
    return struct({"role": "user", "content": text})


def text_of(item: pb.ConversationItem) -> str:
    return str(item.item["content"][0]["text"])


def update(name: str, metadata: dict[str, str], *paths: str) -> pb.UpdateConversationRequest:
    return pb.UpdateConversationRequest(conversation=pb.Conversation(name=name, metadata=metadata), update_mask=field_mask_pb2.FieldMask(paths=paths))


@pytest.fixture
async def stubs(gateway: GatewayProcess) -> AsyncIterator[dict[str, pb_grpc.ConversationServiceStub]]:
    """A stub per key: two ordinary keys and the admin."""
    channels = {name: authed_channel(gateway.grpc_address, KEYS[name]) for name in ("admin", "user", "notools")}
    yield {name: pb_grpc.ConversationServiceStub(channel) for name, channel in channels.items()}
    for channel in channels.values():
        await channel.close()


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_reflection_and_health_list_the_conversation_service(gateway: GatewayProcess, channel: grpc.aio.Channel) -> None:
    assert GRPCURL is not None
    listed = subprocess.run([GRPCURL, "-plaintext", gateway.grpc_address, "list"], capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert SERVICE in listed
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_create_append_list_get_delete(stubs: dict[str, pb_grpc.ConversationServiceStub]) -> None:
    stub = stubs["user"]
    created = await stub.CreateConversation(
        pb.CreateConversationRequest(conversation=pb.Conversation(metadata={"topic": "weather"}), items=[user("Is it sunny?")])
    )
    conversation = created.conversation
    assert conversation.name == f"conversations/{conversation.conversation_id}" and conversation.conversation_id.startswith("conv_")
    assert (conversation.key_id, dict(conversation.metadata), conversation.item_count) == ("user", {"topic": "weather"}, 1)
    assert conversation.expire_time.ToDatetime() - conversation.update_time.ToDatetime() == timedelta(days=30)
    first = created.items[0]
    assert first.type == "message" and first.item_id.startswith("msg_") and first.position == 0
    assert first.name == f"{conversation.name}/items/{first.item_id}"
    assert first.item["role"] == "user" and first.item["id"] == first.item_id
    call = struct({"type": "function_call", "call_id": "call_7", "name": "get_weather", "arguments": '{"city": "Oslo"}'})
    output = struct({"type": "function_call_output", "call_id": "call_7", "output": "sunny"})
    appended = await stub.AppendConversationItems(pb.AppendConversationItemsRequest(parent=conversation.name, items=[call, output]))
    assert [(i.type, i.position, i.item_id[:3]) for i in appended.items] == [("function_call", 1, "fc_"), ("function_call_output", 2, "fco")]
    assert appended.conversation.item_count == 3 and appended.conversation.size_bytes > 0
    listed = await stub.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name))
    assert [i.type for i in listed.items] == ["message", "function_call", "function_call_output"] and listed.next_page_token == ""
    assert listed.items[0].item["content"][0]["type"] == "input_text" and listed.items[2].item["output"] == "sunny"
    newest = await stub.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.conversation_id, order=pb.SORT_ORDER_DESC, page_size=1))
    assert [i.type for i in newest.items] == ["function_call_output"] and newest.next_page_token
    after = await stub.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name, after=first.item_id))
    assert [i.position for i in after.items] == [1, 2]
    got = (await stub.GetConversation(pb.GetConversationRequest(name=conversation.name))).conversation
    assert got.item_count == 3 and got.update_time.ToDatetime() >= got.create_time.ToDatetime()
    mine = await stub.ListConversations(pb.ListConversationsRequest(page_size=1000))
    assert conversation.conversation_id in [c.conversation_id for c in mine.conversations]
    await stub.DeleteConversation(pb.DeleteConversationRequest(name=conversation.name))
    gone = await rpc_error(stub.GetConversation(pb.GetConversationRequest(name=conversation.name)))
    assert gone.code() == grpc.StatusCode.NOT_FOUND and error_info(gone).reason == "CONVERSATION_NOT_FOUND"


async def test_another_key_gets_not_found_and_the_admin_sees_everything(stubs: dict[str, pb_grpc.ConversationServiceStub]) -> None:
    owner, other, admin = stubs["user"], stubs["notools"], stubs["admin"]
    created = await owner.CreateConversation(pb.CreateConversationRequest(items=[user("private"), user("also private")]))
    conversation, item = created.conversation, created.items[1]
    unknown = await rpc_error(other.GetConversation(pb.GetConversationRequest(name="conversations/conv_does_not_exist")))
    for call in (
        other.GetConversation(pb.GetConversationRequest(name=conversation.name)),
        other.UpdateConversation(update(conversation.name, {"mine": "now"}, "metadata")),
        other.GetConversationItem(pb.GetConversationItemRequest(name=item.name)),
        other.DeleteConversationItem(pb.DeleteConversationItemRequest(name=item.name)),
        other.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name)),
        other.AppendConversationItems(pb.AppendConversationItemsRequest(parent=conversation.name, items=[user("sneaky")])),
        other.DeleteConversation(pb.DeleteConversationRequest(name=conversation.name)),
        # The admin reads any conversation, but adds to none but its own.
        admin.AppendConversationItems(pb.AppendConversationItemsRequest(parent=conversation.name, items=[user("admin")])),
    ):
        error = await rpc_error(call)
        assert error.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
        assert error_info(error).reason == error_info(unknown).reason == "CONVERSATION_NOT_FOUND"
        assert error.details() == f"no conversation {conversation.conversation_id!r}"
    others = await other.ListConversations(pb.ListConversationsRequest(page_size=1000))
    assert conversation.conversation_id not in [c.conversation_id for c in others.conversations]
    refused = await rpc_error(other.ListConversations(pb.ListConversationsRequest(key_id="user")))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED and error_info(refused).reason == "ADMIN_REQUIRED"
    # The admin lists every key's (or one key's), reads the items, and may delete it.
    every = await admin.ListConversations(pb.ListConversationsRequest(page_size=1000))
    assert conversation.conversation_id in [c.conversation_id for c in every.conversations]
    users = await admin.ListConversations(pb.ListConversationsRequest(key_id="user", page_size=1000))
    assert {c.key_id for c in users.conversations} == {"user"} and conversation.conversation_id in [c.conversation_id for c in users.conversations]
    items = await admin.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name))
    assert [text_of(i) for i in items.items] == ["private", "also private"]  # nothing of the refused calls landed
    assert (await admin.GetConversation(pb.GetConversationRequest(name=conversation.name))).conversation.key_id == "user"
    # As it may delete the conversation, the admin may manage its metadata and items; it stays the key's.
    assert (await admin.GetConversationItem(pb.GetConversationItemRequest(name=item.name))).item == item
    updated = (await admin.UpdateConversation(update(conversation.name, {"reviewed": "yes"}, "metadata"))).conversation
    assert (updated.key_id, dict(updated.metadata)) == ("user", {"reviewed": "yes"})
    assert (await admin.DeleteConversationItem(pb.DeleteConversationItemRequest(name=item.name))).conversation.item_count == 1
    assert [text_of(i) for i in (await owner.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name))).items] == ["private"]
    await admin.DeleteConversation(pb.DeleteConversationRequest(name=conversation.name))
    assert (await rpc_error(owner.GetConversation(pb.GetConversationRequest(name=conversation.name)))).code() == grpc.StatusCode.NOT_FOUND


async def test_the_admins_looks_at_other_keys_conversations_are_audited(stubs: dict[str, pb_grpc.ConversationServiceStub], channel: grpc.aio.Channel) -> None:
    from agentgateway.v1 import security_service_pb2 as sec_pb
    from agentgateway.v1 import security_service_pb2_grpc as sec_grpc

    created = await stubs["user"].CreateConversation(pb.CreateConversationRequest(items=[user("look")]))
    conversation, item = created.conversation, created.items[0]
    admin = stubs["admin"]
    await admin.GetConversation(pb.GetConversationRequest(name=conversation.name))
    await admin.UpdateConversation(update(conversation.name, {"seen": "admin"}, "metadata"))
    await admin.GetConversationItem(pb.GetConversationItemRequest(name=item.name))
    await admin.DeleteConversationItem(pb.DeleteConversationItemRequest(name=item.name))
    events = (await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(key_id="admin", page_size=1000))).events
    resources = [e.resource for e in events]
    for rpc, resource in (
        ("GetConversation", conversation.name),
        ("UpdateConversation", conversation.name),
        ("GetConversationItem", conversation.name),
        ("DeleteConversationItem", item.name),
    ):
        assert f"ConversationService/{rpc} {resource}" in resources


async def test_update_metadata_and_get_and_delete_one_item(stubs: dict[str, pb_grpc.ConversationServiceStub]) -> None:
    stub = stubs["user"]
    created = await stub.CreateConversation(
        pb.CreateConversationRequest(conversation=pb.Conversation(metadata={"topic": "weather", "lang": "en"}), items=[user("a"), user("b"), user("c")])
    )
    conversation, items = created.conversation, created.items
    updated = (await stub.UpdateConversation(update(conversation.name, {"topic": "travel"}, "metadata"))).conversation
    # Replaced whole; an update is a change: update_time moves and the TTL restarts from it.
    assert dict(updated.metadata) == {"topic": "travel"} and updated.create_time == conversation.create_time
    assert updated.update_time.ToNanoseconds() > conversation.update_time.ToNanoseconds()
    assert updated.expire_time.ToDatetime() - updated.update_time.ToDatetime() == timedelta(days=30)
    assert (await stub.GetConversation(pb.GetConversationRequest(name=conversation.conversation_id))).conversation == updated
    # AIP-134: an empty mask updates the fields the request sets; with none set nothing changes.
    assert (await stub.UpdateConversation(update(conversation.conversation_id, {}))).conversation == updated
    implied = (await stub.UpdateConversation(update(conversation.name, {"topic": "food"}))).conversation
    assert dict(implied.metadata) == {"topic": "food"}
    assert dict((await stub.UpdateConversation(update(conversation.name, {}, "*"))).conversation.metadata) == {}
    # One item, by its resource name.
    middle = (await stub.GetConversationItem(pb.GetConversationItemRequest(name=items[1].name))).item
    assert middle == items[1] and (middle.position, text_of(middle)) == (1, "b")
    after = (await stub.DeleteConversationItem(pb.DeleteConversationItemRequest(name=items[1].name))).conversation
    assert after.conversation_id == conversation.conversation_id and after.item_count == 2
    assert after.size_bytes < conversation.size_bytes and after.update_time.ToNanoseconds() > implied.update_time.ToNanoseconds()
    listed = await stub.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name))
    assert [(text_of(i), i.position) for i in listed.items] == [("a", 0), ("c", 2)]
    for call in (
        stub.GetConversationItem(pb.GetConversationItemRequest(name=items[1].name)),
        stub.DeleteConversationItem(pb.DeleteConversationItemRequest(name=items[1].name)),
    ):
        gone = await rpc_error(call)
        info = error_info(gone)
        assert (gone.code(), info.reason, info.metadata["item"]) == (grpc.StatusCode.NOT_FOUND, "CONVERSATION_ITEM_NOT_FOUND", items[1].item_id)
    unknown = await rpc_error(stub.GetConversationItem(pb.GetConversationItemRequest(name="conversations/conv_nope/items/msg_x")))
    assert error_info(unknown).reason == "CONVERSATION_NOT_FOUND"
    await stub.DeleteConversation(pb.DeleteConversationRequest(name=conversation.name))


async def test_paging_through_many_items_in_both_orders(stubs: dict[str, pb_grpc.ConversationServiceStub]) -> None:
    stub = stubs["user"]
    conversation = (await stub.CreateConversation(pb.CreateConversationRequest())).conversation
    for batch in range(5):
        await stub.AppendConversationItems(pb.AppendConversationItemsRequest(parent=conversation.name, items=[user(f"m{batch * 50 + i}") for i in range(50)]))
    for order, expected in ((pb.SORT_ORDER_ASC, list(range(250))), (pb.SORT_ORDER_DESC, list(reversed(range(250))))):
        seen, token, pages = [], "", 0
        while True:
            page = await stub.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name, page_size=100, page_token=token, order=order))
            seen += [i.position for i in page.items]
            pages += 1
            if not (token := page.next_page_token):
                break
        assert (seen, pages) == (expected, 3)
    default = await stub.ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name))
    assert len(default.items) == 100 and text_of(default.items[99]) == "m99"
    # A token is bound to its listing: another order (or conversation) is INVALID_ARGUMENT.
    for bad in (
        pb.ListConversationItemsRequest(parent=conversation.name, page_token=default.next_page_token, order=pb.SORT_ORDER_DESC),
        pb.ListConversationItemsRequest(parent=conversation.name, page_token="%%%not-a-token"),
    ):
        error = await rpc_error(stub.ListConversationItems(bad))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error_info(error).metadata["param"] == "page_token"
    await stub.DeleteConversation(pb.DeleteConversationRequest(name=conversation.name))


async def test_listing_conversations_pages_newest_first(stubs: dict[str, pb_grpc.ConversationServiceStub]) -> None:
    stub = stubs["notools"]
    made = [(await stub.CreateConversation(pb.CreateConversationRequest())).conversation.conversation_id for _ in range(5)]
    seen, token = [], ""
    while True:
        page = await stub.ListConversations(pb.ListConversationsRequest(page_size=2, page_token=token))
        assert len(page.conversations) <= 2 and {c.key_id for c in page.conversations} <= {"notools"}
        seen += [c.conversation_id for c in page.conversations]
        if not (token := page.next_page_token):
            break
    assert [c for c in seen if c in made] == made[::-1] and len(seen) == len(set(seen))
    for conversation_id in made:
        await stub.DeleteConversation(pb.DeleteConversationRequest(name=f"conversations/{conversation_id}"))


@pytest.mark.parametrize(
    ("request_of", "param", "reason"),
    [
        (lambda c: ("GetConversation", pb.GetConversationRequest(name="")), "name", "INVALID_ARGUMENT"),
        (lambda c: ("GetConversation", pb.GetConversationRequest(name="conversations/a/b")), "name", "INVALID_ARGUMENT"),
        (lambda c: ("ListConversationItems", pb.ListConversationItemsRequest(parent=c, page_size=-1)), "page_size", "INVALID_ARGUMENT"),
        (lambda c: ("ListConversationItems", pb.ListConversationItemsRequest(parent=c, after="msg_nope")), "after", "INVALID_ARGUMENT"),
        (lambda c: ("ListConversationItems", pb.ListConversationItemsRequest(parent=c, order=7)), "order", "INVALID_ARGUMENT"),  # type: ignore[arg-type]
        (lambda c: ("AppendConversationItems", pb.AppendConversationItemsRequest(parent=c)), "items", "INVALID_ARGUMENT"),
        (
            lambda c: ("AppendConversationItems", pb.AppendConversationItemsRequest(parent=c, items=[struct({"content": "x"})])),
            "items[0].type",
            "INVALID_ARGUMENT",
        ),
        (
            lambda c: ("AppendConversationItems", pb.AppendConversationItemsRequest(parent=c, items=[struct({"role": "robot", "content": "x"})])),
            "items[0].role",
            "INVALID_ARGUMENT",
        ),
        (
            lambda c: (
                "AppendConversationItems",
                pb.AppendConversationItemsRequest(
                    parent=c, items=[user("a"), struct({"role": "user", "content": "b", "id": "x"}), struct({"role": "user", "content": "c", "id": "x"})]
                ),
            ),
            "items[2].id",
            "DUPLICATE_ITEM",
        ),
        (
            lambda c: ("CreateConversation", pb.CreateConversationRequest(conversation=pb.Conversation(metadata={f"k{i}": "v" for i in range(17)}))),
            "metadata",
            "INVALID_ARGUMENT",
        ),
        (lambda c: ("UpdateConversation", update(c, {f"k{i}": "v" for i in range(17)}, "metadata")), "metadata", "INVALID_ARGUMENT"),
        (lambda c: ("UpdateConversation", update("", {"a": "b"}, "metadata")), "conversation.name", "INVALID_ARGUMENT"),
        (lambda c: ("UpdateConversation", update(c, {"a": "b"}, "item_count")), "update_mask.paths[0]", "FIELD_NOT_UPDATABLE"),
        (lambda c: ("UpdateConversation", update(c, {"a": "b"}, "metadata", "name")), "update_mask.paths[1]", "FIELD_NOT_UPDATABLE"),
        (lambda c: ("UpdateConversation", update(c, {"a": "b"}, "metadata.a")), "update_mask.paths[0]", "FIELD_NOT_UPDATABLE"),
        (lambda c: ("UpdateConversation", update(c, {"a": "b"}, "metadata", "title")), "update_mask.paths[1]", "UNKNOWN_FIELD"),
        (lambda c: ("UpdateConversation", update(c, {"a": "b"}, "*", "metadata")), "update_mask.paths[0]", "INVALID_ARGUMENT"),
        (lambda c: ("GetConversationItem", pb.GetConversationItemRequest(name=c)), "name", "INVALID_ARGUMENT"),
        (lambda c: ("GetConversationItem", pb.GetConversationItemRequest(name=f"{c}/items/")), "name", "INVALID_ARGUMENT"),
        (lambda c: ("DeleteConversationItem", pb.DeleteConversationItemRequest(name=f"{c}/x/items/msg_1")), "name", "INVALID_ARGUMENT"),
    ],
)
async def test_bad_requests_are_invalid_argument_naming_the_field(
    stubs: dict[str, pb_grpc.ConversationServiceStub], request_of: Any, param: str, reason: str
) -> None:
    stub = stubs["user"]
    conversation = (await stub.CreateConversation(pb.CreateConversationRequest(items=[user("hi")]))).conversation
    method, request = request_of(conversation.name)
    error = await rpc_error(getattr(stub, method)(request))
    info = error_info(error)
    assert (error.code(), info.reason, info.metadata["param"]) == (grpc.StatusCode.INVALID_ARGUMENT, reason, param)
    unchanged = (await stub.GetConversation(pb.GetConversationRequest(name=conversation.name))).conversation
    assert (unchanged.item_count, dict(unchanged.metadata)) == (1, {})
    await stub.DeleteConversation(pb.DeleteConversationRequest(name=conversation.name))


async def test_a_call_without_a_key_is_unauthenticated(gateway: GatewayProcess) -> None:
    async with authed_channel(gateway.grpc_address, None) as anonymous:
        error = await rpc_error(pb_grpc.ConversationServiceStub(anonymous).ListConversations(pb.ListConversationsRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def docs_commands() -> list[str]:
    """The grpcurl commands of docs/api.md's Conversations section, continuation lines joined."""
    section = (REPO / "docs" / "api.md").read_text().split("### Conversations", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [command for command in block.group(1).replace("\\\n", " ").splitlines() if command.strip()]


def run_docs_command(command: str, gateway: GatewayProcess, key: str, conversation_id: str = "conv_8f2e", item_id: str = "msg_71ac") -> Any:
    assert GRPCURL is not None
    text = command.replace("$AGW_KEY", key).replace("localhost:50051", gateway.grpc_address)
    text = text.replace("conv_8f2e", conversation_id).replace("msg_71ac", item_id)
    argv = shlex.split(text)
    assert argv[0] == ".venv/bin/grpcurl"
    out = subprocess.run([GRPCURL, *argv[1:]], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def test_the_grpcurl_example_in_the_docs_works(gateway: GatewayProcess) -> None:
    create, append, list_items, update, get_item, delete_item, list_conversations, delete = docs_commands()
    created = run_docs_command(create, gateway, ADMIN_KEY)
    conversation_id, item_id = created["conversation"]["conversation_id"], created["items"][0]["item_id"]
    assert created["conversation"]["metadata"] == {"topic": "demo"}
    assert created["items"][0]["item"]["content"] == [{"type": "input_text", "text": "Hi"}]
    appended = run_docs_command(append, gateway, ADMIN_KEY, conversation_id)
    assert appended["items"][0]["item"]["content"][0]["type"] == "output_text" and appended["conversation"]["item_count"] == 2
    listed = run_docs_command(list_items, gateway, ADMIN_KEY, conversation_id)
    assert [i["item"]["content"][0]["text"] for i in listed["items"]] == ["Hello!", "Hi"]
    updated = run_docs_command(update, gateway, ADMIN_KEY, conversation_id)
    assert updated["conversation"]["metadata"] == {"topic": "weather"}
    assert run_docs_command(get_item, gateway, ADMIN_KEY, conversation_id, item_id)["item"] == created["items"][0]
    after = run_docs_command(delete_item, gateway, ADMIN_KEY, conversation_id, item_id)["conversation"]
    assert (after["conversation_id"], after["item_count"], after["metadata"]) == (conversation_id, 1, {"topic": "weather"})
    assert conversation_id in [c["conversation_id"] for c in run_docs_command(list_conversations, gateway, ADMIN_KEY)["conversations"]]
    assert run_docs_command(delete, gateway, ADMIN_KEY, conversation_id) == {}


async def test_caps_and_ttl_come_from_settings_and_conversations_survive_a_restart(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {**GATEWAY_ENV, "GATEWAY_CONVERSATION_MAX_ITEMS": "3", "GATEWAY_CONVERSATION_MAX_BYTES": "4096", "GATEWAY_CONVERSATION_TTL_S": "3600"}
    gateway = GatewayProcess(
        make_agents_dir(tmp_path / "agents"),
        write_config(tmp_path / "config", upstream),
        tmp_path / "gw.log",
        services="registry,executor,tools,security",
        env_extra=env,
    ).start()
    try:
        async with authed_channel(gateway.grpc_address, KEYS["user"]) as channel:
            stub = pb_grpc.ConversationServiceStub(channel)
            conversation = (await stub.CreateConversation(pb.CreateConversationRequest(items=[user("one"), user("two")]))).conversation
            assert conversation.expire_time.ToDatetime() - conversation.update_time.ToDatetime() == timedelta(hours=1)
            over = await rpc_error(stub.AppendConversationItems(pb.AppendConversationItemsRequest(parent=conversation.name, items=[user("3"), user("4")])))
            info = error_info(over)
            assert (over.code(), info.reason, info.metadata["limit"], info.metadata["limit_kind"]) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "CONVERSATION_TOO_LARGE",
                "3",
                "items",
            )
            big = await rpc_error(stub.AppendConversationItems(pb.AppendConversationItemsRequest(parent=conversation.name, items=[user("x" * 5000)])))
            assert error_info(big).metadata["limit_kind"] == "bytes"
        assert gateway.terminate() == 0
        assert (tmp_path / "data" / "conversations.sqlite3").exists()
        gateway.start()
        async with authed_channel(gateway.grpc_address, KEYS["user"]) as channel:
            items = await pb_grpc.ConversationServiceStub(channel).ListConversationItems(pb.ListConversationItemsRequest(parent=conversation.name))
        assert [text_of(i) for i in items.items] == ["one", "two"]
    finally:
        gateway.terminate()
