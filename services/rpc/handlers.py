"""Wrapping a ``grpc.aio`` method handler, for server interceptors.

``wrapped(handler, around)`` runs every call of ``handler`` inside the async context manager
``around(context)`` — for a server-streaming RPC, around the whole stream. Interceptors say
only what happens around a call (set the caller, map errors, refuse); this module knows the
handler kinds.

types-grpcio types ``RpcMethodHandler.unary_unary`` / ``unary_stream`` as the sync server's
behaviours (``grpc.ServicerContext``, a returned value or ``Iterator``). Under ``grpc.aio`` they
are a coroutine function and an async generator function taking a ``grpc.aio.ServicerContext``;
these helpers say so once, for every interceptor that wraps them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, cast

import grpc

__all__ = ["Around", "MalformedRequest", "RequestT", "ResponseT", "wrapped"]

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")

_UnaryUnary = Callable[[RequestT, grpc.aio.ServicerContext[RequestT, ResponseT]], Awaitable[ResponseT]]
_UnaryStream = Callable[[RequestT, grpc.aio.ServicerContext[RequestT, ResponseT]], AsyncIterator[ResponseT]]


def _unary_unary_of(handler: grpc.RpcMethodHandler[RequestT, ResponseT]) -> _UnaryUnary[RequestT, ResponseT] | None:
    return cast("_UnaryUnary[RequestT, ResponseT] | None", handler.unary_unary)


def _unary_stream_of(handler: grpc.RpcMethodHandler[RequestT, ResponseT]) -> _UnaryStream[RequestT, ResponseT] | None:
    return cast("_UnaryStream[RequestT, ResponseT] | None", handler.unary_stream)


Around = Callable[[grpc.aio.ServicerContext[Any, Any]], AbstractAsyncContextManager[None]]


class MalformedRequest(Exception):
    """Raised inside ``around`` for a request whose bytes did not parse. grpc.aio itself ends
    such a call with a bare UNKNOWN before any interceptor code runs; parsed leniently, the
    call reaches ``around``, which can answer it like any other refusal."""


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError, or the recursion limit of a too-deep message
            return MalformedRequest(str(exc))

    return parse


def wrapped(handler: grpc.RpcMethodHandler[RequestT, ResponseT], around: Around, *, lenient: bool = False) -> grpc.RpcMethodHandler[RequestT, ResponseT]:
    """``handler`` with every call inside ``around(context)``. ``lenient``: a request that
    does not parse raises ``MalformedRequest`` inside ``around`` instead of never arriving."""
    deserializer = _lenient(handler.request_deserializer) if lenient else handler.request_deserializer
    inner_uu = _unary_unary_of(handler)
    if inner_uu is not None:

        async def unary_unary(request: RequestT, context: grpc.aio.ServicerContext[RequestT, ResponseT]) -> ResponseT:
            async with around(context):
                if isinstance(request, MalformedRequest):
                    raise request
                return await inner_uu(request, context)
            raise AssertionError("unreachable")  # `around` ends the call when it swallows an error

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, handler.response_serializer)
    inner_us = _unary_stream_of(handler)
    if inner_us is not None:

        async def unary_stream(request: RequestT, context: grpc.aio.ServicerContext[RequestT, ResponseT]) -> AsyncIterator[ResponseT]:
            async with around(context):
                if isinstance(request, MalformedRequest):
                    raise request
                async for response in inner_us(request, context):
                    yield response

        return grpc.unary_stream_rpc_method_handler(unary_stream, deserializer, handler.response_serializer)
    return handler  # no client-streaming RPCs in agentgateway.v1
