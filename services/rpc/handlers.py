"""Typed access to a ``grpc.aio`` method handler's behaviours, for server interceptors.

types-grpcio types ``RpcMethodHandler.unary_unary`` / ``unary_stream`` as the sync server's
behaviours (``grpc.ServicerContext``, a returned value or ``Iterator``). Under ``grpc.aio`` they
are a coroutine function and an async generator function taking a ``grpc.aio.ServicerContext``;
these helpers say so once, for every interceptor that wraps them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar, cast

import grpc

__all__ = ["RequestT", "ResponseT", "UnaryStream", "UnaryUnary", "unary_stream_of", "unary_unary_of"]

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")

UnaryUnary = Callable[[RequestT, grpc.aio.ServicerContext[RequestT, ResponseT]], Awaitable[ResponseT]]
UnaryStream = Callable[[RequestT, grpc.aio.ServicerContext[RequestT, ResponseT]], AsyncIterator[ResponseT]]


def unary_unary_of(handler: grpc.RpcMethodHandler[RequestT, ResponseT]) -> UnaryUnary[RequestT, ResponseT] | None:
    return cast("UnaryUnary[RequestT, ResponseT] | None", handler.unary_unary)


def unary_stream_of(handler: grpc.RpcMethodHandler[RequestT, ResponseT]) -> UnaryStream[RequestT, ResponseT] | None:
    return cast("UnaryStream[RequestT, ResponseT] | None", handler.unary_stream)
