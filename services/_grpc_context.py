"""Small helpers for servicers: request ids from metadata, page tokens."""

from __future__ import annotations

import base64
import uuid

import grpc

from services._grpc_status import abort
from services.errors import invalid_argument

__all__ = ["metadata_value", "page_or_abort", "page_slice", "request_id_of"]


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("utf-8", "replace")
    return None


def request_id_of(context: grpc.aio.ServicerContext) -> str:
    return metadata_value(context, "x-request-id") or uuid.uuid4().hex


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
