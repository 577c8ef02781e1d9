"""ExecutorService over gRPC: transport only; the run lives in ``Executor``.

Errors are raised as ``GatewayError`` and become the RPC's status in
``services.rpc.interceptor`` (after whatever events were already streamed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from services.executor import events as ev
from services.executor.codec import (
    approval_id_from_name,
    approval_to_proto,
    chat_input_from_proto,
    completion_to_proto,
    event_to_proto,
    resolution_from_proto,
    resumed_completion_to_proto,
)
from services.executor.executor import Executor
from services.executor.upstream_time import UpstreamClock, start_upstream_clock

__all__ = ["ExecutorServicer"]


def _completion_id() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex}", int(time.time())


# A chat completion's stream and a resumed run's stream: responses of the same fields.
_Chunk = TypeVar("_Chunk", ex_pb.StreamChatCompletionResponse, ex_pb.StreamResolveApprovalResponse)


# Events a REST client sees as output: the shim sends its headers at the first of them.
_OUTPUT = (ev.TextDelta, ev.ToolCallDelta, ev.FinalOutput)


async def _chunks(kind: type[_Chunk], events: AsyncIterator[ev.Event], model_id: str, include_usage: bool, clock: UpstreamClock) -> AsyncIterator[_Chunk]:
    completion_id, created = _completion_id()
    timed_first = False
    async for event in events:
        if isinstance(event, ev.Usage) and not include_usage:
            continue  # OpenAI semantics: streams carry usage only when asked
        chunk = kind(id=completion_id, model=model_id, created=created, event=event_to_proto(event))
        # The upstream time so far, where the shim reads it: its first output (headers) and the end.
        if (not timed_first and isinstance(event, _OUTPUT)) or isinstance(event, ev.FinalOutput):
            timed_first = True
            chunk.upstream_duration.FromNanoseconds(clock.nanoseconds)
        yield chunk


class ExecutorServicer(ex_grpc.ExecutorServiceServicer):
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def StreamChatCompletion(
        self,
        request: ex_pb.StreamChatCompletionRequest,
        context: grpc.aio.ServicerContext[ex_pb.StreamChatCompletionRequest, ex_pb.StreamChatCompletionResponse],
    ) -> AsyncIterator[ex_pb.StreamChatCompletionResponse]:
        clock = start_upstream_clock()
        chat = chat_input_from_proto(request.chat)
        async for chunk in _chunks(ex_pb.StreamChatCompletionResponse, self._executor.stream(chat), chat.model_id, request.chat.include_usage, clock):
            yield chunk

    async def CreateChatCompletion(
        self,
        request: ex_pb.CreateChatCompletionRequest,
        context: grpc.aio.ServicerContext[ex_pb.CreateChatCompletionRequest, ex_pb.CreateChatCompletionResponse],
    ) -> ex_pb.CreateChatCompletionResponse:
        clock = start_upstream_clock()
        chat = chat_input_from_proto(request.chat)
        done = await self._executor.complete(chat)
        response = completion_to_proto(done, *_completion_id(), chat.model_id)
        response.upstream_duration.FromNanoseconds(clock.nanoseconds)
        return response

    async def StreamResolveApproval(
        self,
        request: ex_pb.StreamResolveApprovalRequest,
        context: grpc.aio.ServicerContext[ex_pb.StreamResolveApprovalRequest, ex_pb.StreamResolveApprovalResponse],
    ) -> AsyncIterator[ex_pb.StreamResolveApprovalResponse]:
        clock = start_upstream_clock()
        resolution = resolution_from_proto(request.decision)
        pending = await self._executor.get_approval(resolution.approval_id)
        events = self._executor.stream_resumed(pending, resolution)
        async for chunk in _chunks(ex_pb.StreamResolveApprovalResponse, events, pending.model_id, request.include_usage, clock):
            yield chunk

    async def ResolveApproval(
        self,
        request: ex_pb.ResolveApprovalRequest,
        context: grpc.aio.ServicerContext[ex_pb.ResolveApprovalRequest, ex_pb.ResolveApprovalResponse],
    ) -> ex_pb.ResolveApprovalResponse:
        clock = start_upstream_clock()
        resolution = resolution_from_proto(request.decision)
        pending = await self._executor.get_approval(resolution.approval_id)
        done = await self._executor.complete_resumed(pending, resolution)
        response = resumed_completion_to_proto(done, *_completion_id(), pending.model_id)
        response.upstream_duration.FromNanoseconds(clock.nanoseconds)
        return response

    async def GetApproval(
        self, request: ex_pb.GetApprovalRequest, context: grpc.aio.ServicerContext[ex_pb.GetApprovalRequest, ex_pb.GetApprovalResponse]
    ) -> ex_pb.GetApprovalResponse:
        pending = await self._executor.get_approval(approval_id_from_name(request.name))
        return ex_pb.GetApprovalResponse(approval=approval_to_proto(pending))
