"""``/v1/conversations``: OpenAI's Conversations API over ``ConversationService``.

A translator, as the other routes are: the JSON body or query becomes a ConversationService
request (the caller's credentials travel as its metadata, so the key that owns a conversation
is decided there), and its answer becomes OpenAI's JSON — ``conversation``,
``conversation.deleted``, items, and ``list`` objects of items. Errors are the service's, in
OpenAI's error JSON (shim/errors.py): 404 ``conversation_not_found`` for an unknown, foreign or
expired id (``conversation_item_not_found`` for an item not in it), 400 naming the field for a
bad item, metadata, ``after`` or ``limit``.
"""

from __future__ import annotations

from typing import Any, Literal

from google.protobuf import field_mask_pb2
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from agentgateway.v1 import conversation_service_pb2 as pb
from agentgateway.v1 import conversation_service_pb2_grpc as pb_grpc
from services.errors import invalid_argument
from services.rpc.structs import json_from_struct, struct_from_json
from services.settings import GatewaySettings
from shim.completions import parse_json_body, read_body
from shim.json_response import JSONResponse
from shim.schemas import ValidationError, param_of

__all__ = [
    "append_items",
    "create_conversation",
    "delete_conversation",
    "delete_item",
    "get_conversation",
    "get_item",
    "list_items",
    "update_conversation",
]

_TIMEOUT_S = 10
# Item types whose objects OpenAI lists with a `status` ("completed" once kept). Input items are
# stored as sent, without one; the listing adds it, as OpenAI's does.
_WITH_STATUS = frozenset({"message", "function_call", "function_call_output"})
_ORDERS = {"asc": pb.SORT_ORDER_ASC, "desc": pb.SORT_ORDER_DESC}


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    def unknown(self) -> None:
        extra = sorted(self.model_extra or {})
        if extra:
            raise invalid_argument(f"Unknown parameter: '{extra[0]}'.", extra[0], "UNKNOWN_PARAMETER")


class CreateConversationBody(_Body):
    items: list[Any] | None = None
    metadata: dict[str, str] | None = None


class UpdateConversationBody(_Body):
    # Required, as OpenAI's; null clears it, as an empty object does.
    metadata: dict[str, str] | None


class AppendItemsBody(_Body):
    items: list[Any]


def _stub(request: Request) -> pb_grpc.ConversationServiceAsyncStub:
    stub: pb_grpc.ConversationServiceAsyncStub = request.app.state.conversations
    return stub


def _options(request: Request) -> dict[str, Any]:
    return {"metadata": request.state.grpc_metadata, "timeout": _TIMEOUT_S}


def _name(request: Request) -> str:
    return f"conversations/{request.path_params['conversation_id']}"


def _item_name(request: Request) -> str:
    item_id = request.path_params["item_id"]
    if not item_id:  # the route takes any path after items/, the empty one too
        raise invalid_argument("an item id is required: /v1/conversations/{id}/items/{item_id}", "item_id")
    return f"{_name(request)}/items/{item_id}"


async def _body(request: Request, model: type[_Body], *, optional: bool = False) -> Any:
    """The JSON body as ``model``: 413 past the size limit, 400 ``invalid_json``, 400 naming
    the field at fault or an unknown one. ``optional``: an empty body is ``{}``."""
    settings: GatewaySettings = request.app.state.settings
    data = await read_body(request, settings.max_body_bytes)
    raw = {} if optional and not data.strip() else parse_json_body(data)
    try:
        body = model.model_validate(raw)
    except ValidationError as exc:
        param, message = param_of(exc)
        raise invalid_argument(message, param) from None
    body.unknown()
    return body


def _structs(items: list[Any]) -> list[Any]:
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid_argument(f"items[{index}] must be a JSON object (an input or output item)", f"items[{index}]")
        out.append(struct_from_json(item, f"items[{index}]"))
    return out


def conversation_json(conversation: pb.Conversation) -> dict[str, Any]:
    return {
        "id": conversation.conversation_id,
        "object": "conversation",
        "created_at": conversation.create_time.seconds,
        "metadata": dict(conversation.metadata),
    }


def item_json(item: pb.ConversationItem) -> dict[str, Any]:
    """A kept item as OpenAI lists it: its JSON, with the ``status`` of a kept item."""
    out = json_from_struct(item.item, "item")
    if out.get("type") in _WITH_STATUS and not out.get("status"):
        out["status"] = "completed"
    return out


def _list_json(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


async def create_conversation(request: Request) -> Response:
    body: CreateConversationBody = await _body(request, CreateConversationBody, optional=True)
    wanted = pb.CreateConversationRequest(conversation=pb.Conversation(metadata=body.metadata or {}), items=_structs(body.items or []))
    created = await _stub(request).CreateConversation(wanted, **_options(request))
    return JSONResponse(conversation_json(created.conversation))


async def get_conversation(request: Request) -> Response:
    found = await _stub(request).GetConversation(pb.GetConversationRequest(name=_name(request)), **_options(request))
    return JSONResponse(conversation_json(found.conversation))


async def update_conversation(request: Request) -> Response:
    body: UpdateConversationBody = await _body(request, UpdateConversationBody)
    wanted = pb.UpdateConversationRequest(
        conversation=pb.Conversation(name=_name(request), metadata=body.metadata or {}), update_mask=field_mask_pb2.FieldMask(paths=["metadata"])
    )
    updated = await _stub(request).UpdateConversation(wanted, **_options(request))
    return JSONResponse(conversation_json(updated.conversation))


async def delete_conversation(request: Request) -> Response:
    await _stub(request).DeleteConversation(pb.DeleteConversationRequest(name=_name(request)), **_options(request))
    return JSONResponse({"id": request.path_params["conversation_id"], "object": "conversation.deleted", "deleted": True})


async def append_items(request: Request) -> Response:
    body: AppendItemsBody = await _body(request, AppendItemsBody)
    if not body.items:
        raise invalid_argument("items must contain at least one item", "items")
    appended = await _stub(request).AppendConversationItems(
        pb.AppendConversationItemsRequest(parent=_name(request), items=_structs(body.items)), **_options(request)
    )
    return JSONResponse(_list_json([item_json(i) for i in appended.items], has_more=False))


async def list_items(request: Request) -> Response:
    query = request.query_params
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise invalid_argument("limit must be an integer", "limit") from None
    if not 1 <= limit <= 100:
        raise invalid_argument("limit must be between 1 and 100", "limit")
    order: Literal["asc", "desc"] | str = query.get("order", "desc")  # OpenAI's default: newest first
    if order not in _ORDERS:
        raise invalid_argument("order must be 'asc' or 'desc'", "order")
    page = await _stub(request).ListConversationItems(
        pb.ListConversationItemsRequest(parent=_name(request), page_size=limit, order=_ORDERS[order], after=query.get("after", "")),
        **_options(request),
    )
    return JSONResponse(_list_json([item_json(i) for i in page.items], has_more=bool(page.next_page_token)))


async def get_item(request: Request) -> Response:
    found = await _stub(request).GetConversationItem(pb.GetConversationItemRequest(name=_item_name(request)), **_options(request))
    return JSONResponse(item_json(found.item))


async def delete_item(request: Request) -> Response:
    """OpenAI answers an item's deletion with the conversation it was deleted from."""
    deleted = await _stub(request).DeleteConversationItem(pb.DeleteConversationItemRequest(name=_item_name(request)), **_options(request))
    return JSONResponse(conversation_json(deleted.conversation))
