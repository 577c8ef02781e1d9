"""``/v1/approvals/{id}``: read a paused run's pending approval, or resolve it and answer with
the resumed run as a ``chat.completion`` (or its SSE chunks). A translator over
``ExecutorService`` ``GetApproval`` / ``ResolveApproval`` / ``StreamResolveApproval``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.requests import Request
from starlette.responses import Response

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from services.errors import invalid_argument
from services.settings import GatewaySettings
from shim.approval_json import resource_json
from shim.completions import read_json, stream_response, unary_response
from shim.json_response import JSONResponse
from shim.schemas import StreamOptions, ValidationError, param_of

__all__ = ["get_approval", "resolve_approval"]


class _CallDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str = Field(min_length=1)
    approve: StrictBool
    reason: str | None = None


class ResolveApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The decision for every call the run waits for, unless `decisions` names the call.
    approve: StrictBool
    # Told to the model for rejected calls.
    reason: str | None = None
    decisions: list[_CallDecision] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


def _name(request: Request) -> str:
    return f"approvals/{request.path_params['approval_id']}"


async def get_approval(request: Request) -> Response:
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    found = await executor.GetApproval(ex_pb.GetApprovalRequest(name=_name(request)), metadata=request.state.grpc_metadata, timeout=10)
    return JSONResponse(resource_json(found.approval))


async def resolve_approval(request: Request) -> Response:
    settings: GatewaySettings = request.app.state.settings
    try:
        body = ResolveApprovalBody.model_validate(await read_json(request, settings.max_body_bytes))
    except ValidationError as exc:
        param, message = param_of(exc)
        raise invalid_argument(message, param) from None
    decision = ex_pb.ApprovalDecision(
        name=_name(request),
        approve=body.approve,
        reason=body.reason or "",
        calls=[ex_pb.ToolCallDecision(call_id=d.call_id, approve=d.approve, reason=d.reason or "") for d in body.decisions or ()],
    )
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    options = {"metadata": request.state.grpc_metadata, "timeout": settings.request_timeout_s}
    if not body.stream:
        return await unary_response(request, executor.ResolveApproval(ex_pb.ResolveApprovalRequest(decision=decision), **options), "")
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    call = executor.StreamResolveApproval(ex_pb.StreamResolveApprovalRequest(decision=decision, include_usage=include_usage), **options)
    return await stream_response(request, call, "")
