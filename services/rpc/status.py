"""``GatewayError`` <-> a gRPC status carrying ``google.rpc.Status`` details.

The server side packs ``ErrorInfo`` (always), ``RetryInfo`` (when a retry can help) and
``BadRequest`` (when a field is at fault) with grpcio-status; the client side (the shim, a
split deployment's peers) recovers the same ``GatewayError`` from a failed call.
"""

from __future__ import annotations

from typing import cast, get_args

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.errors import ERROR_DOMAIN, GatewayError, StatusName
from services.log import get_logger

__all__ = ["error_from_rpc_error", "to_status"]

log = get_logger("rpc")


def to_status(error: GatewayError) -> grpc.Status:
    """The status to end an RPC with: code, message, and the packed details as trailing metadata."""
    details = [_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata))]
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if "param" in error.metadata:
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.metadata["param"], description=error.message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    code: int = grpc.StatusCode[error.status].value[0]
    status: grpc.Status = rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=details))
    return status


def error_from_rpc_error(exc: grpc.aio.AioRpcError) -> GatewayError:
    """The client side: reason, metadata and retry delay of a failed call."""
    name = exc.code().name if exc.code() is not None else "UNKNOWN"
    # Codes the gateway never sends (UNKNOWN, ABORTED, DATA_LOSS...) are internal failures to us.
    status = cast(StatusName, name) if name in get_args(StatusName) else "INTERNAL"
    reason, metadata, retry_after = name, dict[str, str](), None
    rich: status_pb2.Status | None
    try:
        # The stub asks for a grpc.Call; from_call only reads code(), details() and
        # trailing_metadata(), which AioRpcError has (grpc_status.aio wants a live aio call).
        rich = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except ValueError:  # details inconsistent with the status: trust the status alone
        rich = None
    # types-protobuf types Message.DESCRIPTOR as the Python or the upb descriptor, but Any.Is
    # as taking the Python one only; Is takes either at runtime.
    for detail in rich.details if rich is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):  # type: ignore[arg-type]
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):  # type: ignore[arg-type]
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToNanoseconds() / 1e9
    if rich is None or not any(d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) for d in rich.details):  # type: ignore[arg-type]
        # Not a gateway error but gRPC's own (backend down, deadline, transport): its text
        # names internal addresses, so the caller gets a gateway message and the log the rest.
        log.warning("backend call failed", extra={"fields": {"grpc_status": name, "details": exc.details() or ""}})
        return GatewayError(status, reason, _TRANSPORT_MESSAGES.get(name, f"the gateway's backend failed ({name})"), metadata, retry_after)
    return GatewayError(status, reason, exc.details() or "", metadata, retry_after)


_TRANSPORT_MESSAGES = {
    "UNAVAILABLE": "the gateway's backend (executor or registry) is unavailable; try again shortly",
    "DEADLINE_EXCEEDED": "the gateway's backend did not answer in time",
    "CANCELLED": "the call to the gateway's backend was cancelled",
    "RESOURCE_EXHAUSTED": "a message to or from the gateway's backend is over its size limit",
}


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
