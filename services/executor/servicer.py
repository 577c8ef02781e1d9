"""ExecutorService over gRPC: transport only; the run lives in ``Executor``."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import grpc

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from services.executor import events as ev
from services.executor.codec import chat_input_from_proto, event_to_proto, finish_reason_to_proto, message_from_final, usage_to_proto
from services.executor.executor import Executor, collect
from services.security.context import caller

__all__ = ["ExecutorServicer"]


class ExecutorServicer(ex_grpc.ExecutorServiceServicer):
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def StreamChatCompletion(
        self, request: ex_pb.StreamChatCompletionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ex_pb.StreamChatCompletionResponse]:
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        chat = chat_input_from_proto(request.chat, caller().request_id)
        async for event in self._executor.stream(chat):
            if isinstance(event, ev.UsageReport) and not chat.include_usage:
                continue
            yield ex_pb.StreamChatCompletionResponse(id=completion_id, model=chat.model, created=created, event=event_to_proto(event))

    async def CreateChatCompletion(self, request: ex_pb.CreateChatCompletionRequest, context: grpc.aio.ServicerContext) -> ex_pb.CreateChatCompletionResponse:
        chat = chat_input_from_proto(request.chat, caller().request_id, stream=False)
        events, final, usage = await collect(self._executor.stream(chat))
        response = ex_pb.CreateChatCompletionResponse(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            model=chat.model,
            created=int(time.time()),
            message=message_from_final(final),
            finish_reason=finish_reason_to_proto(final.finish_reason),
            events=[event_to_proto(e) for e in events if not isinstance(e, ev.TextDelta | ev.ToolCallDelta)],
        )
        if usage is not None:
            response.usage.CopyFrom(usage_to_proto(usage))
        return response
