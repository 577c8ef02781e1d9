"""ConversationService over gRPC: transport only; the state lives in a ``ConversationStore``.

Who sees what is decided here, from the caller's principal: a key reaches only its own
conversations (the store answers NOT_FOUND for anyone else's, as for an unknown id); an admin
key may also get, list, update, read the items of, delete items of and delete any key's, as
an operator manages state — each such act on another key's conversation is audited
(``call_admin``). Nobody adds items to another key's conversation: appends always run as the
caller.
"""

from __future__ import annotations

import contextlib
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2

from agentgateway.v1 import conversation_service_pb2 as pb
from agentgateway.v1 import conversation_service_pb2_grpc as pb_grpc
from services.conversations.store import Conversation, ConversationStore, Item, Order
from services.errors import GatewayError, invalid_argument
from services.rpc.names import resource_id
from services.rpc.paging import DEFAULT_PAGE_SIZE
from services.rpc.structs import json_from_struct
from services.security.audit import AuditEvent
from services.security.context import caller
from services.security.gatekeeper import Gatekeeper
from services.security.keys import ADMIN_ROLE, Principal
from services.security.policy import Decision

__all__ = ["ConversationServicer", "conversation_to_proto", "item_to_proto"]

_PREFIX = "conversations/"
_ORDERS: dict[int, Order] = {pb.SORT_ORDER_UNSPECIFIED: "asc", pb.SORT_ORDER_ASC: "asc", pb.SORT_ORDER_DESC: "desc"}
_ITEM_NAME = "conversations/{conversation}/items/{item}"
# What UpdateConversation may change; every other field of Conversation is output only.
_UPDATABLE = frozenset({"metadata"})


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def conversation_to_proto(conversation: Conversation) -> pb.Conversation:
    return pb.Conversation(
        name=f"{_PREFIX}{conversation.id}",
        conversation_id=conversation.id,
        key_id=conversation.owner,
        metadata=conversation.metadata,
        create_time=_timestamp(conversation.created_at),
        update_time=_timestamp(conversation.updated_at),
        expire_time=_timestamp(conversation.expires_at),
        item_count=conversation.item_count,
        size_bytes=conversation.size_bytes,
    )


def item_to_proto(conversation_id: str, item: Item) -> pb.ConversationItem:
    body = struct_pb2.Struct()
    body.update(item.item)
    return pb.ConversationItem(
        name=f"{_PREFIX}{conversation_id}/items/{item.id}",
        item_id=item.id,
        type=item.type,
        position=item.position,
        item=body,
        create_time=_timestamp(item.created_at),
    )


def _conversation_id(name: str, param: str) -> str:
    return resource_id(name, "conversations", param)


def _item_name(name: str) -> tuple[str, str]:
    """The conversation and item ids in ``conversations/{conversation}/items/{item}``. An item
    id may hold ``/`` (clients choose them): the conversation id, one of ours, never does."""
    parent, separator, item_id = name.partition("/items/")
    if separator and item_id:
        with contextlib.suppress(GatewayError):
            return resource_id(parent, "conversations", "name"), item_id
    raise invalid_argument(f"name must be '{_ITEM_NAME}'", "name")


def _fields_to_update(request: pb.UpdateConversationRequest) -> frozenset[str]:
    """The fields ``update_mask`` names (AIP-134): an empty mask means the fields the request
    sets, ``*`` every updatable one; a path that is not updatable is INVALID_ARGUMENT."""
    paths = list(request.update_mask.paths)
    if not paths:
        return _UPDATABLE if request.conversation.metadata else frozenset()
    if paths == ["*"]:
        return _UPDATABLE
    for index, path in enumerate(paths):
        param = f"update_mask.paths[{index}]"
        if path == "*":
            raise invalid_argument("'*' must be the only path of update_mask", param)
        if path in _UPDATABLE:
            continue
        if path.startswith("metadata."):
            raise invalid_argument("metadata is replaced whole: name 'metadata', not one key", param, "FIELD_NOT_UPDATABLE")
        # types-protobuf wants the Python descriptor; the upb one works the same at runtime.
        if field_mask_pb2.FieldMask(paths=[path]).IsValidForDescriptor(pb.Conversation.DESCRIPTOR):  # type: ignore[arg-type]
            raise invalid_argument(f"{path} is output only: only metadata can be updated", param, "FIELD_NOT_UPDATABLE")
        raise invalid_argument(f"Conversation has no field {path[:64]!r}: only metadata can be updated", param, "UNKNOWN_FIELD")
    return frozenset(paths)


def _items(structs: Any) -> list[dict[str, Any]]:
    return [json_from_struct(struct, f"items[{index}]") for index, struct in enumerate(structs)]


def _page_size(value: int) -> int:
    if value < 0:
        raise invalid_argument("page_size must not be negative", "page_size")
    return value or DEFAULT_PAGE_SIZE


def _principal() -> Principal:
    principal = caller().principal
    if principal is None:  # the interceptor authenticates first; this is a second lock
        raise GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required")
    return principal


class ConversationServicer(pb_grpc.ConversationServiceServicer):
    def __init__(self, store: ConversationStore, gatekeeper: Gatekeeper) -> None:
        self._store = store
        self._gate = gatekeeper

    def _readable_by(self, principal: Principal) -> str | None:
        """The owner to look up as: the caller's key, or any (None) for an admin."""
        return None if principal.is_admin else principal.key_id

    def _audit_foreign(self, principal: Principal, owner: str | None, rpc: str, resource: str) -> None:
        """An admin acting on another key's conversations leaves a trail."""
        if owner == principal.key_id:
            return
        decision = Decision(True, f"role:{ADMIN_ROLE}", f"key {principal.key_id!r} has role {ADMIN_ROLE}")
        self._gate.audit.record(
            AuditEvent.of(decision, principal=principal, action="call_admin", resource=f"ConversationService/{rpc} {resource}", request_id=caller().request_id)
        )

    async def _audit_foreign_read(self, principal: Principal, owner: str | None, conversation_id: str, rpc: str) -> None:
        """``_audit_foreign`` for a read whose answer does not say whose conversation it was."""
        if owner is None:  # an admin: whose was it?
            conversation = await self._store.get_conversation(conversation_id, None)
            self._audit_foreign(principal, conversation.owner, rpc, f"{_PREFIX}{conversation_id}")

    async def CreateConversation(
        self, request: pb.CreateConversationRequest, context: grpc.aio.ServicerContext[pb.CreateConversationRequest, pb.CreateConversationResponse]
    ) -> pb.CreateConversationResponse:
        principal = _principal()
        conversation, items = await self._store.create_conversation(principal.key_id, metadata=dict(request.conversation.metadata), items=_items(request.items))
        return pb.CreateConversationResponse(conversation=conversation_to_proto(conversation), items=[item_to_proto(conversation.id, i) for i in items])

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: grpc.aio.ServicerContext[pb.GetConversationRequest, pb.GetConversationResponse]
    ) -> pb.GetConversationResponse:
        principal = _principal()
        conversation = await self._store.get_conversation(_conversation_id(request.name, "name"), self._readable_by(principal))
        self._audit_foreign(principal, conversation.owner, "GetConversation", f"{_PREFIX}{conversation.id}")
        return pb.GetConversationResponse(conversation=conversation_to_proto(conversation))

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: grpc.aio.ServicerContext[pb.ListConversationsRequest, pb.ListConversationsResponse]
    ) -> pb.ListConversationsResponse:
        principal = _principal()
        if request.key_id and request.key_id != principal.key_id and not principal.is_admin:
            raise GatewayError("PERMISSION_DENIED", "ADMIN_REQUIRED", "only admin keys may list another key's conversations", {"param": "key_id"})
        owner = request.key_id or self._readable_by(principal)
        page = await self._store.list_conversations(owner, page_size=_page_size(request.page_size), page_token=request.page_token)
        self._audit_foreign(principal, owner, "ListConversations", f"key_id={owner or '*'}")
        return pb.ListConversationsResponse(conversations=[conversation_to_proto(c) for c in page.conversations], next_page_token=page.next_page_token)

    async def UpdateConversation(
        self, request: pb.UpdateConversationRequest, context: grpc.aio.ServicerContext[pb.UpdateConversationRequest, pb.UpdateConversationResponse]
    ) -> pb.UpdateConversationResponse:
        principal = _principal()
        conversation_id = _conversation_id(request.conversation.name, "conversation.name")
        owner = self._readable_by(principal)
        if "metadata" in _fields_to_update(request):
            conversation = await self._store.update_conversation(conversation_id, owner, metadata=dict(request.conversation.metadata))
        else:  # nothing to change: no write, and no renewal
            conversation = await self._store.get_conversation(conversation_id, owner)
        self._audit_foreign(principal, conversation.owner, "UpdateConversation", f"{_PREFIX}{conversation.id}")
        return pb.UpdateConversationResponse(conversation=conversation_to_proto(conversation))

    async def DeleteConversation(
        self, request: pb.DeleteConversationRequest, context: grpc.aio.ServicerContext[pb.DeleteConversationRequest, pb.DeleteConversationResponse]
    ) -> pb.DeleteConversationResponse:
        principal = _principal()
        deleted = await self._store.delete_conversation(_conversation_id(request.name, "name"), self._readable_by(principal))
        self._audit_foreign(principal, deleted.owner, "DeleteConversation", f"{_PREFIX}{deleted.id}")
        return pb.DeleteConversationResponse()

    async def ListConversationItems(
        self,
        request: pb.ListConversationItemsRequest,
        context: grpc.aio.ServicerContext[pb.ListConversationItemsRequest, pb.ListConversationItemsResponse],
    ) -> pb.ListConversationItemsResponse:
        principal = _principal()
        conversation_id = _conversation_id(request.parent, "parent")
        order = _ORDERS.get(request.order)
        if order is None:
            raise invalid_argument("order must be SORT_ORDER_ASC or SORT_ORDER_DESC", "order")
        owner = self._readable_by(principal)
        page = await self._store.list_items(
            conversation_id, owner, page_size=_page_size(request.page_size), page_token=request.page_token, order=order, after=request.after
        )
        await self._audit_foreign_read(principal, owner, conversation_id, "ListConversationItems")
        return pb.ListConversationItemsResponse(items=[item_to_proto(conversation_id, i) for i in page.items], next_page_token=page.next_page_token)

    async def AppendConversationItems(
        self,
        request: pb.AppendConversationItemsRequest,
        context: grpc.aio.ServicerContext[pb.AppendConversationItemsRequest, pb.AppendConversationItemsResponse],
    ) -> pb.AppendConversationItemsResponse:
        principal = _principal()
        conversation_id = _conversation_id(request.parent, "parent")
        if not request.items:
            raise invalid_argument("items is required: at least one item to add", "items")
        items = await self._store.append_items(conversation_id, principal.key_id, _items(request.items))
        conversation = await self._store.get_conversation(conversation_id, principal.key_id)
        return pb.AppendConversationItemsResponse(items=[item_to_proto(conversation_id, i) for i in items], conversation=conversation_to_proto(conversation))

    async def GetConversationItem(
        self, request: pb.GetConversationItemRequest, context: grpc.aio.ServicerContext[pb.GetConversationItemRequest, pb.GetConversationItemResponse]
    ) -> pb.GetConversationItemResponse:
        principal = _principal()
        conversation_id, item_id = _item_name(request.name)
        owner = self._readable_by(principal)
        item = await self._store.get_item(conversation_id, item_id, owner)
        await self._audit_foreign_read(principal, owner, conversation_id, "GetConversationItem")
        return pb.GetConversationItemResponse(item=item_to_proto(conversation_id, item))

    async def DeleteConversationItem(
        self,
        request: pb.DeleteConversationItemRequest,
        context: grpc.aio.ServicerContext[pb.DeleteConversationItemRequest, pb.DeleteConversationItemResponse],
    ) -> pb.DeleteConversationItemResponse:
        principal = _principal()
        conversation_id, item_id = _item_name(request.name)
        conversation, _ = await self._store.delete_item(conversation_id, item_id, self._readable_by(principal))
        self._audit_foreign(principal, conversation.owner, "DeleteConversationItem", f"{_PREFIX}{conversation.id}/items/{item_id}")
        return pb.DeleteConversationItemResponse(conversation=conversation_to_proto(conversation))
