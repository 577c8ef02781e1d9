"""Servicers whose RPCs are defined but not built yet answer UNIMPLEMENTED with an ErrorInfo."""

from __future__ import annotations

from typing import Any

import grpc

from services._grpc_status import abort
from services.errors import GatewayError

__all__ = ["unimplemented_servicer"]


def unimplemented_servicer(base: type, service: str, reason: str) -> type:
    def make(method: str) -> Any:
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            await abort(context, GatewayError("UNIMPLEMENTED", reason, f"{service}.{method} is not implemented yet"))

        handler.__name__ = method
        return handler

    methods = {name: make(name) for name in vars(base) if not name.startswith("_")}
    return type(f"Unimplemented{service}", (base,), methods)
