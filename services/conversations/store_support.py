"""What every ``ConversationStore`` shares: page sizes and tokens, id checks, the duplicate and
``after`` errors, and the checks and preparation of a response about to be stored.

The SQLite and Redis stores keep different rows, but a page token of one is shaped as the
other's (AIP-158: opaque, bound to its listing) and they refuse the same input the same way.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services import json_wire
from services.conversations.items import MAX_ID_LENGTH, PreparedItem, prepare_items
from services.conversations.store import Conversation, ConversationPage, Item, ItemPage, Order
from services.errors import GatewayError, invalid_argument

__all__ = [
    "MAX_PAGE_SIZE",
    "PreparedResponse",
    "after_not_found",
    "checked_id",
    "checked_order",
    "clamp_page_size",
    "conversation_bound",
    "conversation_page",
    "duplicate_in_conversation",
    "item_bound",
    "item_page",
    "prepare_response",
    "refuse_repeated_ids",
]

MAX_PAGE_SIZE = 1000


def clamp_page_size(size: int) -> int:
    return max(1, min(size, MAX_PAGE_SIZE))


def checked_order(order: str) -> Order:
    if order not in ("asc", "desc"):
        raise invalid_argument("order must be asc or desc", "order")
    return "asc" if order == "asc" else "desc"


def checked_id(value: object, what: str) -> str:
    """Ids come from requests: bound what reaches a store and its messages."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise invalid_argument(f"{what} must be an id of 1 to {MAX_ID_LENGTH} characters", what)
    return value


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json_wire.dumps(payload)).decode().rstrip("=")


def _bad_token() -> GatewayError:
    return invalid_argument("page_token is not valid for this listing", "page_token")


def _untoken(token: str, **expected: Any) -> dict[str, Any]:
    """The payload of ``token``; INVALID_ARGUMENT if it is not one of ours or was made for
    another listing (another conversation, order or owner: AIP-158)."""
    try:
        payload = json_wire.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, json_wire.JSONDecodeError):
        payload = None
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expected.items()):
        raise _bad_token()
    return payload


def item_bound(page_token: str, scope: str, order: Order) -> int | None:
    """The last position a page token of the item listing ``scope`` in ``order`` returned;
    None without a token."""
    if not page_token:
        return None
    last = _untoken(page_token, s=scope, o=order)
    position = last.get("p")
    if not isinstance(position, int) or isinstance(position, bool):
        raise _bad_token()
    return position


def item_page(items: Sequence[Item], size: int, scope: str, order: Order) -> ItemPage:
    """A page from up to ``size + 1`` items in ``order``: one more than fits means more follow."""
    page = list(items[:size])
    more = len(items) > size
    return ItemPage(page, _token({"s": scope, "o": order, "p": page[-1].position}) if more else "", more)


def conversation_bound(page_token: str, scope: str) -> tuple[float, str] | None:
    """(created_at, id) of the last conversation a page token of the listing ``scope`` (an
    owner, or ``*``) returned; the next page starts below it. None without a token."""
    if not page_token:
        return None
    last = _untoken(page_token, k=scope)
    created_at, conversation_id = last.get("t"), last.get("i")
    if not isinstance(created_at, float | int) or isinstance(created_at, bool) or not isinstance(conversation_id, str):
        raise _bad_token()
    return float(created_at), conversation_id


def conversation_page(conversations: Sequence[Conversation], size: int, scope: str) -> ConversationPage:
    """A page from up to ``size + 1`` conversations, newest first."""
    page = list(conversations[:size])
    token = _token({"k": scope, "t": page[-1].created_at, "i": page[-1].id}) if len(conversations) > size else ""
    return ConversationPage(page, token)


def after_not_found(after: str) -> GatewayError:
    return invalid_argument(f"no item {after[:MAX_ID_LENGTH]!r} here to list items after", "after")


def duplicate_in_conversation(conversation_id: str, item_id: str, param: str, index: int) -> GatewayError:
    return invalid_argument(f"an item with id {item_id!r} is already in conversation {conversation_id!r}", f"{param}[{index}].id", reason="DUPLICATE_ITEM")


def refuse_repeated_ids(prepared: Sequence[PreparedItem], param: str) -> None:
    """One append holds each id once (a turn's input and output are checked together)."""
    seen: set[str] = set()
    for index, item in enumerate(prepared):
        if item.id in seen:
            raise invalid_argument(f"duplicate item id {item.id!r}", f"{param}[{index}].id", reason="DUPLICATE_ITEM")
        seen.add(item.id)


@dataclass(frozen=True)
class PreparedResponse:
    """A response checked and ready to store: the Response body (output ids given) and its items."""

    id: str
    body: dict[str, Any]
    input: list[PreparedItem]
    output: list[PreparedItem]
    created_at: float | None  # from the body; None: the store's clock at the write

    def created(self, now: float) -> float:
        return now if self.created_at is None else self.created_at


def prepare_response(
    response: Mapping[str, Any],
    input_items: Sequence[Mapping[str, Any]],
    output_items: Sequence[Mapping[str, Any]] | None,
    previous_response_id: str | None,
    conversation_id: str | None,
    append_to_conversation: bool,
) -> PreparedResponse:
    """The checks ``put_response`` makes before it touches the store."""
    response_id = checked_id(response.get("id"), "id")
    if previous_response_id == response_id:
        raise invalid_argument("a response cannot continue from itself", "previous_response_id")
    if append_to_conversation and not conversation_id:
        raise invalid_argument("append_to_conversation needs a conversation", "conversation")
    body = dict(response)
    prepared_in = prepare_items(input_items, "input")
    prepared_out = prepare_items((body.get("output") or []) if output_items is None else output_items, "output")
    if output_items is None:  # ids given to output items belong in the stored Response too
        body["output"] = [p.item for p in prepared_out]
    created = body.get("created_at")
    created_at = float(created) if isinstance(created, int | float) and not isinstance(created, bool) else None
    return PreparedResponse(response_id, body, prepared_in, prepared_out, created_at)
