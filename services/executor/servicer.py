"""ExecutorService over gRPC: transport only; the run lives in ``Executor``.

Errors are raised as ``GatewayError`` and become the RPC's status in
``services.rpc.interceptor`` (after whatever events were already streamed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import grpc

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from services.executor import events as ev
from services.executor.codec import chat_input_from_proto, completion_to_proto, event_to_proto
from services.executor.executor import Executor

__all__ = ["ExecutorServicer"]


def _completion_id() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex}", int(time.time())


class ExecutorServicer(ex_grpc.ExecutorServiceServicer):
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def StreamChatCompletion(
        self,
        request: ex_pb.StreamChatCompletionRequest,
        context: grpc.aio.ServicerContext[ex_pb.StreamChatCompletionRequest, ex_pb.StreamChatCompletionResponse],
    ) -> AsyncIterator[ex_pb.StreamChatCompletionResponse]:
        chat = chat_input_from_proto(request.chat)
        completion_id, created = _completion_id()
        async for event in self._executor.stream(chat):
            if isinstance(event, ev.Usage) and not request.chat.include_usage:
                continue  # OpenAI semantics: streams carry usage only when asked
            yield ex_pb.StreamChatCompletionResponse(id=completion_id, model=chat.model_id, created=created, event=event_to_proto(event))

    async def CreateChatCompletion(
        self,
        request: ex_pb.CreateChatCompletionRequest,
        context: grpc.aio.ServicerContext[ex_pb.CreateChatCompletionRequest, ex_pb.CreateChatCompletionResponse],
    ) -> ex_pb.CreateChatCompletionResponse:
        chat = chat_input_from_proto(request.chat)
        done = await self._executor.complete(chat)
        return completion_to_proto(done, *_completion_id(), chat.model_id)
