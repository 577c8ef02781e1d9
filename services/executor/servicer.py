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
from services.errors import invalid_argument
from services.executor import events as ev
from services.executor.chat_conversations import ChatConversations
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
from services.executor.responses_run import ResponseRunner
from services.executor.upstream_time import UpstreamClock, start_upstream_clock
from services.rpc.names import resource_id

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
    def __init__(self, executor: Executor, responses: ResponseRunner | None = None) -> None:
        self._executor = executor
        self._responses = responses or ResponseRunner(executor, None)
        self._conversations = ChatConversations(self._responses.store)

    async def StreamChatCompletion(
        self,
        request: ex_pb.StreamChatCompletionRequest,
        context: grpc.aio.ServicerContext[ex_pb.StreamChatCompletionRequest, ex_pb.StreamChatCompletionResponse],
    ) -> AsyncIterator[ex_pb.StreamChatCompletionResponse]:
        clock = start_upstream_clock()
        turn = await self._conversations.open(request.chat)
        chat = chat_input_from_proto(request.chat) if turn is None else turn.chat_input()
        events = self._executor.stream(chat)
        if turn is not None:
            events = turn.streamed(events)
        async for chunk in _chunks(ex_pb.StreamChatCompletionResponse, events, chat.model_id, request.chat.include_usage, clock):
            yield chunk

    async def CreateChatCompletion(
        self,
        request: ex_pb.CreateChatCompletionRequest,
        context: grpc.aio.ServicerContext[ex_pb.CreateChatCompletionRequest, ex_pb.CreateChatCompletionResponse],
    ) -> ex_pb.CreateChatCompletionResponse:
        clock = start_upstream_clock()
        turn = await self._conversations.open(request.chat)
        chat = chat_input_from_proto(request.chat) if turn is None else turn.chat_input()
        done = await self._executor.complete(chat)
        if turn is not None:
            await turn.completed(done.final)
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

    async def StreamResponse(
        self, request: ex_pb.StreamResponseRequest, context: grpc.aio.ServicerContext[ex_pb.StreamResponseRequest, ex_pb.StreamResponseResponse]
    ) -> AsyncIterator[ex_pb.StreamResponseResponse]:
        clock = start_upstream_clock()
        timed_first = False
        async for part in self._responses.run(request.request, streaming=True):
            which = part.WhichOneof("part")
            first_output = which == "event" and part.event.WhichOneof("event") in ("text_delta", "tool_call_delta", "final_output")
            if which == "finished" or (first_output and not timed_first):
                timed_first = True
                part.upstream_duration.FromNanoseconds(clock.nanoseconds)
            yield part

    async def CreateResponse(
        self, request: ex_pb.CreateResponseRequest, context: grpc.aio.ServicerContext[ex_pb.CreateResponseRequest, ex_pb.CreateResponseResponse]
    ) -> ex_pb.CreateResponseResponse:
        clock = start_upstream_clock()
        finished = None
        async for part in self._responses.run(request.request, streaming=False):
            if part.WhichOneof("part") == "finished":
                finished = part.finished
        assert finished is not None  # run() ends with the finished response or raises
        reply = ex_pb.CreateResponseResponse(response=finished)
        reply.upstream_duration.FromNanoseconds(clock.nanoseconds)
        return reply

    async def GetResponse(
        self, request: ex_pb.GetResponseRequest, context: grpc.aio.ServicerContext[ex_pb.GetResponseRequest, ex_pb.GetResponseResponse]
    ) -> ex_pb.GetResponseResponse:
        return ex_pb.GetResponseResponse(response=await self._responses.get(resource_id(request.name, "responses")))

    async def DeleteResponse(
        self, request: ex_pb.DeleteResponseRequest, context: grpc.aio.ServicerContext[ex_pb.DeleteResponseRequest, ex_pb.DeleteResponseResponse]
    ) -> ex_pb.DeleteResponseResponse:
        await self._responses.delete(resource_id(request.name, "responses"))
        return ex_pb.DeleteResponseResponse()

    async def ListResponseInputItems(
        self,
        request: ex_pb.ListResponseInputItemsRequest,
        context: grpc.aio.ServicerContext[ex_pb.ListResponseInputItemsRequest, ex_pb.ListResponseInputItemsResponse],
    ) -> ex_pb.ListResponseInputItemsResponse:
        if request.page_size < 0:
            raise invalid_argument("page_size must not be negative", "page_size")
        items, token = await self._responses.input_items(resource_id(request.parent, "responses", "parent"), min(request.page_size, 100), request.page_token)
        return ex_pb.ListResponseInputItemsResponse(items=items, next_page_token=token)
