"""Rich gRPC errors: ``GatewayError`` <-> status with ``google.rpc.ErrorInfo`` details."""

from __future__ import annotations

from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from services.errors import ERROR_DOMAIN, GatewayError

__all__ = ["abort", "error_from_rpc_error", "status_metadata"]

_DETAILS_KEY = "grpc-status-details-bin"


def status_metadata(error: GatewayError) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying the error as a packed ``google.rpc.Status``."""
    code = grpc.StatusCode[error.status]
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    details = [_pack(info)]
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if "param" in error.metadata:
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.metadata["param"], description=error.message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    return ((_DETAILS_KEY, status.SerializeToString()),)


async def abort(context: grpc.aio.ServicerContext, error: GatewayError) -> NoReturn:
    await context.abort(grpc.StatusCode[error.status], error.message, trailing_metadata=status_metadata(error))
    raise AssertionError("unreachable")  # context.abort always raises


def error_from_rpc_error(exc: grpc.aio.AioRpcError) -> GatewayError:
    """The client side: recover reason, metadata and retry delay from a failed call."""
    code = exc.code()
    status = code.name if code is not None else "UNKNOWN"
    reason, metadata, retry_after = status, {}, None
    for key, value in exc.trailing_metadata() or ():
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        rich = status_pb2.Status.FromString(value)
        for detail in rich.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_after = retry.retry_delay.ToNanoseconds() / 1e9
    if status not in grpc.StatusCode.__members__:
        status = "INTERNAL"
    return GatewayError(status, reason, exc.details() or "", metadata, retry_after)  # type: ignore[arg-type]


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed
