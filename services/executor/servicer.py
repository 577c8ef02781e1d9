"""ExecutorService over gRPC: transport only; the run lives in ``Executor``."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import grpc

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from services.errors import GatewayError
from services.executor import events as ev
from services.executor.codec import chat_input_from_proto, event_to_proto, finish_reason_to_proto, message_from_final, usage_to_proto
from services.executor.executor import Executor, collect
from services.rpc.status import abort
from services.security.context import caller

__all__ = ["ExecutorServicer"]


class ExecutorServicer(ex_grpc.ExecutorServiceServicer):
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def StreamChatCompletion(
        self, request: ex_pb.StreamChatCompletionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ex_pb.StreamChatCompletionResponse]:
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        sent = 0
        try:
            chat = chat_input_from_proto(request.chat, caller().request_id)
            async for event in self._executor.stream(chat):
                if isinstance(event, ev.UsageReport) and not chat.include_usage:
                    continue
                sent += 1
                yield ex_pb.StreamChatCompletionResponse(id=completion_id, model=chat.model, created=created, event=event_to_proto(event))
        except GatewayError as error:
            if sent:
                # The client already has events: tell it in-band too, then end with the status.
                if error.reason == "GUARDRAIL_TRIGGERED":
                    tripped = ev.GuardrailTripped(error.metadata.get("guardrail", ""), "output" if error.metadata.get("kind") == "output" else "input")
                    yield ex_pb.StreamChatCompletionResponse(id=completion_id, model=request.chat.model, created=created, event=event_to_proto(tripped))
                yield ex_pb.StreamChatCompletionResponse(
                    id=completion_id,
                    model=request.chat.model,
                    created=created,
                    event=pb.AgentEvent(error=pb.RunError(reason=error.reason, message=error.message)),
                )
            await abort(context, error)

    async def CreateChatCompletion(self, request: ex_pb.CreateChatCompletionRequest, context: grpc.aio.ServicerContext) -> ex_pb.CreateChatCompletionResponse:
        try:
            chat = chat_input_from_proto(request.chat, caller().request_id, stream=False)
            events, final, usage = await collect(self._executor.stream(chat))
        except GatewayError as error:
            await abort(context, error)
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
