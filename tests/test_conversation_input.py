"""Bad input never gives a 5xx from ConversationService: any request a gRPC client can put on
the wire — items as arbitrary JSON, odd ids and resource names, metadata, update masks, page
tokens, enum values the schema does not name — is served or refused with INVALID_ARGUMENT /
NOT_FOUND. In process: the servicer
over a real SQLite store, as the caller the auth interceptor would set."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, cast

import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgateway.v1 import conversation_service_pb2 as pb
from services.conversations.servicer import ConversationServicer
from services.conversations.sqlite_store import SQLiteConversationStore
from services.errors import GatewayError
from services.security.context import CallContext, current_call
from services.security.gatekeeper import Gatekeeper
from services.security.keys import Principal
from tests.proto_strategies import json_values, messages

_CALLER = CallContext(Principal("fuzz", frozenset(), ("*",), ("*",)), "req-fuzz")

_item_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["message", "function_call", "function_call_output", "reasoning", ""]), st.text(max_size=70), json_values),
        "role": st.one_of(st.sampled_from(["user", "assistant", "system", "developer", "robot"]), json_values),
        "content": st.one_of(st.text(max_size=20), st.lists(json_values, max_size=3), json_values),
        "id": st.one_of(st.sampled_from(["msg_same", "", "x" * 129]), st.text(max_size=20), json_values),
        "call_id": st.text(max_size=10),
    },
)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    try:
        out.update(value)
    except (ValueError, TypeError):
        pass  # a value Struct itself refuses: leave it empty
    return out


@pytest.fixture(scope="module")
def servicer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConversationServicer]:
    store = SQLiteConversationStore(tmp_path_factory.mktemp("conversations") / "c.sqlite3", ttl_s=3600, max_items=50, max_bytes=20_000)
    # A non-admin caller never reaches the gatekeeper (it only audits an admin's reads).
    yield ConversationServicer(store, cast(Gatekeeper, None))
    asyncio.run(store.close())


def _serve(call: Coroutine[Any, Any, Any]) -> None:
    async def run() -> None:
        current_call.set(_CALLER)
        try:
            await call
        except GatewayError as error:
            assert error.status in ("INVALID_ARGUMENT", "NOT_FOUND"), error
            assert error.message

    asyncio.run(run())


def _conversation(servicer: ConversationServicer) -> str:
    async def create() -> str:
        current_call.set(_CALLER)
        return (await servicer.CreateConversation(pb.CreateConversationRequest(), None)).conversation.name  # type: ignore[arg-type]

    return asyncio.run(create())


_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(items=st.lists(_item_like, max_size=4), metadata=st.dictionaries(st.text(max_size=70), st.text(max_size=600), max_size=18))
def test_any_create_request_is_served_or_invalid_argument(servicer: ConversationServicer, items: list[dict[str, Any]], metadata: dict[str, str]) -> None:
    request = pb.CreateConversationRequest(conversation=pb.Conversation(metadata=metadata), items=[_struct(i) for i in items])
    _serve(servicer.CreateConversation(request, None))  # type: ignore[arg-type]


@_settings
@given(items=st.lists(_item_like, max_size=4), known=st.booleans(), parent=st.text(max_size=40))
def test_any_append_request_is_served_or_refused(servicer: ConversationServicer, items: list[dict[str, Any]], known: bool, parent: str) -> None:
    request = pb.AppendConversationItemsRequest(parent=_conversation(servicer) if known else parent, items=[_struct(i) for i in items])
    _serve(servicer.AppendConversationItems(request, None))  # type: ignore[arg-type]


@_settings
@given(request=messages(pb.ListConversationItemsRequest), known=st.booleans())
def test_any_item_listing_is_served_or_refused(servicer: ConversationServicer, request: pb.ListConversationItemsRequest, known: bool) -> None:
    if known:
        request.parent = _conversation(servicer)
    _serve(servicer.ListConversationItems(request, None))  # type: ignore[arg-type]


@_settings
@given(request=messages(pb.ListConversationsRequest))
def test_any_conversation_listing_is_served_or_refused(servicer: ConversationServicer, request: pb.ListConversationsRequest) -> None:
    request.key_id = ""  # another key's listing is PERMISSION_DENIED for this caller, by design
    _serve(servicer.ListConversations(request, None))  # type: ignore[arg-type]


@_settings
@given(
    request=messages(pb.UpdateConversationRequest),
    known=st.booleans(),
    paths=st.lists(st.sampled_from(["metadata", "*", "name", "metadata.k", ""]), max_size=3),
)
def test_any_update_is_served_or_refused(servicer: ConversationServicer, request: pb.UpdateConversationRequest, known: bool, paths: list[str]) -> None:
    if known:
        request.conversation.name = _conversation(servicer)
        request.update_mask.paths[:] = paths
    _serve(servicer.UpdateConversation(request, None))  # type: ignore[arg-type]


@_settings
@given(known=st.booleans(), item=st.one_of(st.text(max_size=140), st.sampled_from(["", "a/b", "msg_x/items/y"])), delete=st.booleans())
def test_any_item_name_is_served_or_refused(servicer: ConversationServicer, known: bool, item: str, delete: bool) -> None:
    name = f"{_conversation(servicer)}/items/{item}" if known else item
    if delete:
        _serve(servicer.DeleteConversationItem(pb.DeleteConversationItemRequest(name=name), None))  # type: ignore[arg-type]
    else:
        _serve(servicer.GetConversationItem(pb.GetConversationItemRequest(name=name), None))  # type: ignore[arg-type]
