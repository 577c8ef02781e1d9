"""ConversationService over gRPC: transport only; the state lives in a ``ConversationStore``.

Who sees what is decided here, from the caller's principal: a key reaches only its own
conversations (the store answers NOT_FOUND for anyone else's, as for an unknown id); an admin
key may also get, list, list the items of and delete any key's — each such look at another
key's conversation is audited (``call_admin``). Nobody adds items to another key's
conversation: appends always run as the caller.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import struct_pb2, timestamp_pb2

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
        if owner is None:  # an admin: whose was it?
            conversation = await self._store.get_conversation(conversation_id, None)
            self._audit_foreign(principal, conversation.owner, "ListConversationItems", f"{_PREFIX}{conversation_id}")
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
