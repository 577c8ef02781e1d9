"""A gRPC channel that sends an API key (and a request id) with every call, as clients do."""

from __future__ import annotations

from typing import Any

import grpc

__all__ = ["authed_channel"]


class _AddMetadata:
    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self._pairs = pairs

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(tuple(details.metadata or ()) + self._pairs))
        return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata, details.credentials, details.wait_for_ready)


# grpc.aio files each interceptor under the first kind it matches, so one class per kind.
class _Unary(_AddMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _Stream(_AddMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._details(details), request)


def authed_channel(address: str, key: str | None, header: str = "authorization") -> grpc.aio.Channel:
    pairs: tuple[tuple[str, str], ...] = ()
    if key is not None:
        pairs = ((header, f"Bearer {key}" if header == "authorization" else key),)
    return grpc.aio.insecure_channel(address, interceptors=[_Unary(pairs), _Stream(pairs)])
