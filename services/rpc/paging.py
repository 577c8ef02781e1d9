"""Page tokens for the List RPCs (AIP-158): opaque, the last key of the previous page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.errors import invalid_argument

T = TypeVar("T")

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "page_of", "page_slice"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_slice(keys: list[str], page_size: int, page_token: str) -> tuple[int, int, str]:
    """Offsets ``[start, end)`` into sorted ``keys`` and the next token ("" on the last page).

    Raises ``GatewayError`` INVALID_ARGUMENT for a negative ``page_size`` or a token this
    function did not make.
    """
    if page_size < 0:
        raise invalid_argument("page_size must not be negative", "page_size")
    size = DEFAULT_PAGE_SIZE if page_size == 0 else min(page_size, MAX_PAGE_SIZE)
    start = 0
    if page_token:
        try:
            after = base64.b64decode(page_token.encode(), altchars=b"-_", validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid_argument("page_token is not valid", "page_token") from None
        start = next((i for i, k in enumerate(keys) if k > after), len(keys))
    end = min(start + size, len(keys))
    token = base64.urlsafe_b64encode(keys[end - 1].encode()).decode() if start < end < len(keys) else ""
    return start, end, token


def page_of(items: Sequence[T], key: Callable[[T], str], page_size: int, page_token: str) -> tuple[list[T], str]:
    """One page of ``items`` (sorted by ``key``) and the next token; see ``page_slice``."""
    start, end, token = page_slice([key(item) for item in items], page_size, page_token)
    return list(items[start:end]), token
