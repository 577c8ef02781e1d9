"""Small helpers for servicers: page tokens."""

from __future__ import annotations

import base64

import grpc

from services.errors import invalid_argument
from services.rpc.status import abort

__all__ = ["page_or_abort", "page_slice"]


def page_slice(keys: list[str], page_size: int, page_token: str, max_size: int = 1000) -> tuple[int, int, str]:
    """Offsets ``[start, end)`` into sorted ``keys`` and the next token (the last key, opaque)."""
    size = 100 if page_size <= 0 else min(page_size, max_size)
    start = 0
    if page_token:
        try:
            after = base64.urlsafe_b64decode(page_token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise ValueError("page_token is not valid") from None
        start = next((i for i, k in enumerate(keys) if k > after), len(keys))
    end = min(start + size, len(keys))
    token = base64.urlsafe_b64encode(keys[end - 1].encode()).decode() if end < len(keys) and end > start else ""
    return start, end, token


async def page_or_abort(context: grpc.aio.ServicerContext, keys: list[str], page_size: int, page_token: str) -> tuple[int, int, str]:
    """``page_slice`` for a servicer: bad paging arguments end the RPC with INVALID_ARGUMENT."""
    if page_size < 0:
        await abort(context, invalid_argument("page_size must not be negative", "page_size"))
    try:
        return page_slice(keys, page_size, page_token)
    except ValueError:
        await abort(context, invalid_argument("page_token is not valid", "page_token"))
