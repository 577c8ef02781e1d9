"""Conversation items: OpenAI Responses-API input and output items as JSON objects, and ids.

An item is stored as the JSON object a client would send or receive (``message`` with
``input_text`` / ``output_text`` parts, ``function_call``, ``function_call_output``,
``reasoning``...). ``prepare_items`` is what every store applies before it keeps items: it
checks their shape, expands OpenAI's shorthand message (``{"role": "user", "content": "hi"}``)
into a ``message`` item with content parts, as OpenAI lists it back, and gives each item
without an ``id`` one with the prefix OpenAI uses for its type.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services import json_wire
from services.errors import invalid_argument

__all__ = [
    "MAX_ID_LENGTH",
    "PreparedItem",
    "item_id_prefix",
    "new_conversation_id",
    "new_item_id",
    "new_response_id",
    "prepare_items",
]

MAX_ID_LENGTH = 128

# OpenAI's id prefixes per item type; any other type gets "item_".
_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
    "web_search_call": "ws",
    "file_search_call": "fs",
    "computer_call": "cu",
    "computer_call_output": "cuo",
    "image_generation_call": "ig",
    "code_interpreter_call": "ci",
    "local_shell_call": "lsh",
    "local_shell_call_output": "lsho",
    "mcp_call": "mcp",
    "mcp_list_tools": "mcpl",
    "mcp_approval_request": "mcpr",
    "mcp_approval_response": "mcpa",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
}
_ROLES = ("user", "assistant", "system", "developer")


def _token() -> str:
    return secrets.token_hex(24)  # 192 random bits, as long as OpenAI's ids


def new_conversation_id() -> str:
    return f"conv_{_token()}"


def new_response_id() -> str:
    return f"resp_{_token()}"


def item_id_prefix(item_type: str) -> str:
    return _PREFIXES.get(item_type, "item")


def new_item_id(item_type: str) -> str:
    return f"{item_id_prefix(item_type)}_{_token()}"


@dataclass(frozen=True)
class PreparedItem:
    """An item ready to store: its id and type, the object itself and its JSON text."""

    id: str
    type: str
    item: dict[str, Any]
    json: bytes

    @property
    def size(self) -> int:
        """What the item counts towards a conversation's byte cap: its compact JSON."""
        return len(self.json)


def prepare_items(items: Sequence[Mapping[str, Any]], param: str = "items") -> list[PreparedItem]:
    """``items`` checked, shorthand messages expanded and ids given; INVALID_ARGUMENT naming
    ``param[i]`` for the first item at fault. Two items with one id are refused too
    (``DUPLICATE_ITEM``): an id names one item of a conversation."""
    prepared: list[PreparedItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        where = f"{param}[{index}]"
        item = _expanded(raw, where)
        item_type = item["type"]
        item_id = item.get("id")
        if item_id is None or item_id == "":
            # Id first, as OpenAI shows items; the null id the client sent must not win.
            item = {"id": new_item_id(item_type), **{k: v for k, v in item.items() if k != "id"}}
        elif not isinstance(item_id, str) or len(item_id) > MAX_ID_LENGTH or not item_id.isprintable():
            raise invalid_argument(f"{where}.id must be a string of at most {MAX_ID_LENGTH} printable characters", f"{where}.id")
        if item["id"] in seen:
            raise invalid_argument(f"duplicate item id {item['id']!r} in {param}", f"{where}.id", reason="DUPLICATE_ITEM")
        seen.add(item["id"])
        try:
            text = json_wire.dumps(item)
        except TypeError:  # an integer beyond 64 bits: JSON from a client never reaches here with one
            raise invalid_argument(f"{where} holds a value JSON cannot carry", where) from None
        prepared.append(PreparedItem(item["id"], item_type, item, text))
    return prepared


def _expanded(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise invalid_argument(f"{where} must be a JSON object (an input or output item)", where)
    item = dict(raw)
    item_type = item.get("type")
    if item_type is None and "role" in item:
        item_type = item["type"] = "message"
    if not isinstance(item_type, str) or not item_type or len(item_type) > 64:
        raise invalid_argument(f"{where}.type is required: an item type such as message, function_call or function_call_output", f"{where}.type")
    if item_type == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise invalid_argument(f"{where}.role must be one of {', '.join(_ROLES)}", f"{where}.role")
        content = item.get("content")
        if isinstance(content, str):
            # OpenAI's shorthand: assistant text is output_text, everything else input_text.
            part = "output_text" if role == "assistant" else "input_text"
            item["content"] = [{"type": part, "text": content, **({"annotations": []} if part == "output_text" else {})}]
        elif not isinstance(content, list):
            raise invalid_argument(f"{where}.content must be a string or a list of content parts", f"{where}.content")
    return item
