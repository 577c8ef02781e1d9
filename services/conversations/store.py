"""Server-side conversation state: the store interface, its records, and its errors.

Two kinds of state outlive a request of the Responses API:

- a **conversation** (``conv_...``): an ordered list of items that turns accumulate into
  (OpenAI's Conversations API, the ``conversation`` parameter of ``/v1/responses``);
- a **stored response** (``resp_...``): a Response object with its input and output items,
  which ``previous_response_id`` continues from (the chain of ancestors is the history).

The contract every store keeps (``SQLiteConversationStore`` is the embedded default; a shared
store for replicas implements the same protocol):

- **the principal's**: every record belongs to the key id that made it. A lookup with another
  owner finds nothing and raises the same NOT_FOUND as an id that never existed. ``owner=None``
  means "any owner" and is for admin reads only (the servicer decides who may pass it).
- **capped**: a conversation holds at most ``max_items`` items and ``max_bytes`` of item JSON;
  an append that would pass either is refused whole (``CONVERSATION_TOO_LARGE``), nothing of it
  kept. Appends are atomic and ordered: each item gets the next position.
- **expiring**: a conversation expires ``ttl_s`` after its last change (creation, append, a
  metadata update or an item deleted: OpenAI's conversations expire after inactivity, and each
  of these is activity; reads are not), a response ``ttl_s`` after it was stored. Expired
  records are NOT_FOUND at once and their rows are purged on later writes (or by
  ``purge_expired``).
- **deletes are real**: the rows go, not a flag. Deleting an item takes it out of the
  conversation's history, item count and byte size (its position is not reused: the others
  keep theirs, and page tokens stay valid). Deleting a conversation deletes its items;
  responses that took part in it keep their own copies of their items until they are deleted
  or expire. Deleting a response cuts the chains that run through it (below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from services.errors import GatewayError, invalid_argument

__all__ = [
    "MAX_METADATA_KEY",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE",
    "Conversation",
    "ConversationPage",
    "ConversationStore",
    "Item",
    "ItemPage",
    "Order",
    "StoredResponse",
    "conversation_item_not_found",
    "conversation_not_found",
    "conversation_too_large",
    "history_of",
    "response_not_found",
    "validate_metadata",
]

Order = Literal["asc", "desc"]

# OpenAI's limits on `metadata`: 16 pairs, keys up to 64 characters, values up to 512.
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


@dataclass(frozen=True)
class Conversation:
    id: str  # "conv_..."
    owner: str  # the key id that created it
    created_at: float  # Unix seconds
    updated_at: float  # the last append (or the creation)
    expires_at: float  # updated_at + the store's TTL
    metadata: dict[str, str] = field(default_factory=dict)
    item_count: int = 0
    size_bytes: int = 0  # the compact JSON of its items, what the byte cap counts


@dataclass(frozen=True)
class Item:
    """One item of a conversation (or of a stored response's input)."""

    id: str  # the item's own id: "msg_...", "fc_..."
    type: str  # "message", "function_call", "function_call_output", "reasoning"...
    position: int  # its place, from 0, in the conversation or the response's input
    item: dict[str, Any]  # the item as OpenAI's JSON, with its id and type
    created_at: float


@dataclass(frozen=True)
class ItemPage:
    items: list[Item]
    # Opaque; "" on the last page. Continues in the same order.
    next_page_token: str
    # Whether items follow this page (OpenAI's `has_more`: the same as a non-empty token).
    has_more: bool


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[Conversation]
    next_page_token: str


@dataclass(frozen=True)
class StoredResponse:
    id: str  # "resp_...", the Response object's id
    owner: str
    response: dict[str, Any]  # the whole Response object as OpenAI's JSON
    input_items: list[dict[str, Any]]  # the items this request sent (ids given), in order
    output_items: list[dict[str, Any]]  # the Response's output items, in order
    previous_response_id: str | None
    conversation_id: str | None
    created_at: float
    expires_at: float

    @property
    def input_item_ids(self) -> list[str]:
        return [item["id"] for item in self.input_items]


class ConversationStore(Protocol):
    """Conversations and stored responses, per owner. Every method raises ``GatewayError``:
    NOT_FOUND (``CONVERSATION_NOT_FOUND`` / ``CONVERSATION_ITEM_NOT_FOUND`` /
    ``RESPONSE_NOT_FOUND``) for a missing, foreign or expired record (an item of another
    owner's conversation is ``CONVERSATION_NOT_FOUND``); INVALID_ARGUMENT with a ``param`` for
    bad items, metadata or page tokens, and ``CONVERSATION_TOO_LARGE`` for an append over the
    cap."""

    max_items: int
    max_bytes: int
    ttl_s: float

    async def create_conversation(
        self, owner: str, *, metadata: Mapping[str, str] | None = None, items: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[Conversation, list[Item]]:
        """A new conversation of ``owner``, with its first ``items`` (checked and given ids as
        ``prepare_items`` does; within the cap, else nothing is created)."""

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation: ...

    async def list_conversations(self, owner: str | None, *, page_size: int, page_token: str = "") -> ConversationPage:
        """Newest first. ``owner=None``: every owner's. ``page_size`` is clamped to 1..1000."""

    async def update_conversation(self, conversation_id: str, owner: str | None, *, metadata: Mapping[str, str]) -> Conversation:
        """Replaces its metadata whole (checked as ``validate_metadata`` does) and renews its TTL;
        returns it updated."""

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        """Deletes it and its items; returns what was deleted."""

    async def append_items(self, conversation_id: str, owner: str, items: Sequence[Mapping[str, Any]]) -> list[Item]:
        """Appends ``items`` in order, all or none. An id already in the conversation is
        INVALID_ARGUMENT ``DUPLICATE_ITEM``. Renews the conversation's TTL."""

    async def list_items(
        self, conversation_id: str, owner: str | None, *, page_size: int, page_token: str = "", order: Order = "asc", after: str = ""
    ) -> ItemPage:
        """One page of items. ``after`` is an item id (OpenAI's cursor): items after it in
        ``order``. A ``page_token`` continues a listing and takes precedence over ``after``."""

    async def get_item(self, conversation_id: str, item_id: str, owner: str | None) -> Item:
        """One item of the conversation by its id."""

    async def delete_item(self, conversation_id: str, item_id: str, owner: str | None) -> tuple[Conversation, Item]:
        """Deletes one item: its row goes, the conversation's item count and byte size shrink by
        it, and its TTL is renewed. Returns the conversation after and the item deleted."""

    async def conversation_history(self, conversation_id: str, owner: str) -> list[dict[str, Any]]:
        """Every item of the conversation, oldest first: the history a new turn runs on."""

    async def put_response(
        self,
        owner: str,
        response: Mapping[str, Any],
        *,
        input_items: Sequence[Mapping[str, Any]],
        output_items: Sequence[Mapping[str, Any]] | None = None,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        append_to_conversation: bool = False,
    ) -> StoredResponse:
        """Stores (or replaces, for the same owner) the Response ``response`` (its ``id`` is
        the key; ``created_at`` is read from it). ``output_items`` default to its ``output``.
        ``previous_response_id`` and ``conversation_id`` must name live records of ``owner``.
        With ``append_to_conversation`` the input and output items are appended to the
        conversation in the same transaction: the turn lands whole or not at all."""

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse: ...

    async def delete_response(self, response_id: str, owner: str | None) -> StoredResponse: ...

    async def response_chain(self, response_id: str, owner: str) -> list[StoredResponse]:
        """``response_id`` and its ancestors by ``previous_response_id``, oldest first. The chain
        ends early at an ancestor that was deleted or has expired."""

    async def list_response_input_items(
        self, response_id: str, owner: str | None, *, page_size: int, page_token: str = "", order: Order = "asc", after: str = ""
    ) -> ItemPage:
        """A stored response's input items, paged as ``list_items`` pages."""

    async def purge_expired(self) -> int:
        """Deletes every expired record now; returns how many conversations and responses went."""

    async def ready(self) -> None:
        """Raises (``STATE_UNAVAILABLE``) now if a write could not be kept: the cheap check
        before a run whose response must be stored, so an unreachable shared store fails the
        request before the run spends tokens or runs tools rather than after."""

    async def close(self) -> None: ...


def history_of(chain: Sequence[StoredResponse]) -> list[dict[str, Any]]:
    """The conversation a chain amounts to: each response's input items then its output items,
    oldest response first — what a request with ``previous_response_id`` continues from."""
    return [item for response in chain for item in (*response.input_items, *response.output_items)]


def conversation_not_found(conversation_id: str, param: str | None = None) -> GatewayError:
    metadata = {"conversation": conversation_id[:256]}
    if param:
        metadata["param"] = param
    return GatewayError("NOT_FOUND", "CONVERSATION_NOT_FOUND", f"no conversation {conversation_id[:256]!r}", metadata)


def conversation_item_not_found(conversation_id: str, item_id: str) -> GatewayError:
    return GatewayError(
        "NOT_FOUND",
        "CONVERSATION_ITEM_NOT_FOUND",
        f"no item {item_id[:256]!r} in conversation {conversation_id[:256]!r}",
        {"conversation": conversation_id[:256], "item": item_id[:256]},
    )


def response_not_found(response_id: str, param: str | None = None) -> GatewayError:
    metadata = {"response": response_id[:256]}
    if param:
        metadata["param"] = param
    return GatewayError("NOT_FOUND", "RESPONSE_NOT_FOUND", f"no response {response_id[:256]!r}", metadata)


def conversation_too_large(conversation_id: str, *, what: str, limit: int, param: str = "items") -> GatewayError:
    # INVALID_ARGUMENT (HTTP 400), not RESOURCE_EXHAUSTED: that is a 429 clients retry, and a
    # retry cannot fit. Start a new conversation (or delete this one) instead.
    unit = "items" if what == "items" else "bytes of items"
    return GatewayError(
        "INVALID_ARGUMENT",
        "CONVERSATION_TOO_LARGE",
        f"conversation {conversation_id!r} would hold more than {limit} {unit}; nothing was added (start a new conversation)",
        {"param": param, "conversation": conversation_id, "limit": str(limit), "limit_kind": what},
    )


def validate_metadata(metadata: Mapping[str, str] | None, param: str = "metadata") -> dict[str, str]:
    """OpenAI's metadata rules: at most 16 pairs, string keys up to 64 characters and string
    values up to 512."""
    if metadata is None:
        return {}
    if len(metadata) > MAX_METADATA_PAIRS:
        raise invalid_argument(f"{param} may hold at most {MAX_METADATA_PAIRS} pairs", param)
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY:
            raise invalid_argument(f"{param} keys must be strings of 1 to {MAX_METADATA_KEY} characters", param)
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise invalid_argument(f"{param}[{key!r}] must be a string of at most {MAX_METADATA_VALUE} characters", param)
    return dict(metadata)
