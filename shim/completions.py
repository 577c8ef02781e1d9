"""``POST /v1/chat/completions``: validate, call the executor, answer.

Streaming requests call ``StreamChatCompletion``. The response waits for the first event that
produces output before sending headers, so failures before any output (unknown model, upstream
down, guardrail on input) get a real HTTP status; after that, errors travel in the stream.
Non-streaming requests call ``CreateChatCompletion``. Either way a client disconnect cancels
the gRPC call, which cancels the agent run and its upstream request.

Errors before the response starts are raised (``GatewayError`` or the call's
``AioRpcError``) and turned into OpenAI error JSON by the app's exception handlers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from starlette.requests import Request
from starlette.responses import Response

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from services.errors import GatewayError, invalid_argument
from services.rpc.status import error_from_rpc_error
from services.security.hardening import reject_forbidden_fields
from services.settings import GatewaySettings
from shim import chunks
from shim.approval_json import approval_delta, find_approval
from shim.errors import error_body
from shim.event_stream import EventStream
from shim.json_limits import MAX_JSON_DEPTH, field_nested_too_deep
from shim.json_response import JSONResponse
from shim.overhead import note_upstream
from shim.schemas import ChatCompletionRequest, ValidationError, param_of
from shim.shutdown import OpenCalls, shutting_down
from shim.translate import chat_request_from_openai

__all__ = [
    "await_reply",
    "chat_completions",
    "next_or_none",
    "parse_json_body",
    "read_body",
    "read_json",
    "stream_response",
    "unary_response",
    "wait_disconnect",
    "wants_tool_events",
]

T = TypeVar("T")

_VISIBLE = {"text_delta", "tool_call_delta", "final_output"}
# Opt-in server-side memory: run on this conversation and add the turn to it (docs/api.md).
CONVERSATION_HEADER = "x-agentgateway-conversation"
# A chat completion and a resumed run (approvals) answer with messages of the same fields.
Event = ex_pb.StreamChatCompletionResponse | ex_pb.StreamResolveApprovalResponse
Reply = ex_pb.CreateChatCompletionResponse | ex_pb.ResolveApprovalResponse
StreamCall = grpc.aio.UnaryStreamCall[Any, Any]
UnaryCall = grpc.aio.UnaryUnaryCall[Any, Any]


async def chat_completions(request: Request) -> Response:
    call, model = await _call_executor(request)
    if isinstance(call, _Unary):
        return await unary_response(request, call.call, model)
    return await stream_response(request, call, model)


class _Unary:
    """A unary call, told apart from a streaming one (both are just calls to the type checker)."""

    __slots__ = ("call",)

    def __init__(self, call: UnaryCall) -> None:
        self.call = call


async def _call_executor(request: Request) -> tuple[_Unary | StreamCall, str]:
    """The executor call for the request body, and the model asked for. The body, its parsed
    form and its proto are this function's alone: the response, which may wait on the run for
    minutes, holds none of them (the executor has its own copy)."""
    settings: GatewaySettings = request.app.state.settings
    parsed, chat = chat_request_from_json(await read_json(request, settings.max_body_bytes))
    chat.conversation = request.headers.get(CONVERSATION_HEADER, "").strip()
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    if not parsed.stream:
        unary = executor.CreateChatCompletion(
            ex_pb.CreateChatCompletionRequest(chat=chat),
            metadata=request.state.grpc_metadata,
            timeout=settings.request_timeout_s,
        )
        return _Unary(unary), parsed.model
    call = executor.StreamChatCompletion(
        ex_pb.StreamChatCompletionRequest(chat=chat),
        metadata=request.state.grpc_metadata,
        timeout=settings.request_timeout_s,
    )
    return call, parsed.model


async def stream_response(request: Request, call: StreamCall, model: str) -> Response:
    """SSE for a streaming executor call, headers once the first visible event is there."""
    events: AsyncIterator[Event] = aiter(call)
    open_calls: OpenCalls = request.app.state.open_calls
    try:
        with open_calls.open(call):
            first, buffered = await _first_visible(request, call, events)
    except asyncio.CancelledError:
        call.cancel()
        if open_calls.cut:  # the shutdown grace ran out before the first token
            raise shutting_down() from None
        raise
    except BaseException:
        call.cancel()
        raise
    if first is None:  # the client went away while we waited
        call.cancel()
        return Response(status_code=204)
    meta = chunks.CompletionMeta(first.id, first.created, first.model or model)
    note_upstream(request, first.upstream_duration, meta.model)
    return EventStream(
        _sse(meta, [*buffered, first], events, call, wants_tool_events(request), open_calls),
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def await_reply(request: Request, call: UnaryCall | StreamCall, first: Awaitable[Any] | None = None) -> Any | None:
    """The reply of a unary executor call (or ``first``, what a streaming ``call`` sends
    first), or None if the client went away first (the call is cancelled: the run and its
    upstream request stop). A failed call raises its error."""
    open_calls: OpenCalls = request.app.state.open_calls
    reply = asyncio.ensure_future(call if first is None else first)  # type: ignore[arg-type]
    disconnect = asyncio.ensure_future(wait_disconnect(request))
    try:
        with open_calls.open(call):
            await asyncio.wait({reply, disconnect}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        disconnect.cancel()
    if not reply.done():  # the client went away: cancel the run and its upstream call
        call.cancel()
        reply.cancel()
        return None
    if reply.cancelled() or (open_calls.cut and isinstance(reply.exception(), asyncio.CancelledError | grpc.aio.AioRpcError | GatewayError)):
        if open_calls.cut:  # the shutdown grace ran out: a 503 the client can retry elsewhere
            raise shutting_down()
        return None
    return reply.result()  # a failed call raises its AioRpcError here


async def unary_response(request: Request, call: UnaryCall, model: str) -> Response:
    """A ``chat.completion`` for a unary executor call; a client disconnect cancels it."""
    response: Reply | None = await await_reply(request, call)
    if response is None:
        return Response(status_code=204)
    meta = chunks.CompletionMeta(response.id, response.created, response.model or model)
    note_upstream(request, response.upstream_duration, meta.model)
    body = chunks.completion(meta, response.message, response.finish_reason, response.usage if response.HasField("usage") else None)
    approval = find_approval(response.events)
    if approval is not None and response.finish_reason == pb.FINISH_REASON_APPROVAL_REQUIRED:
        message = body["choices"][0]["message"]
        delta = approval_delta(approval, meta.model, after_text=bool(message["content"]))
        message.update(content=(message["content"] or "") + delta["content"], agentgateway=delta["agentgateway"])
    if wants_tool_events(request):
        body["agentgateway"] = {"events": [e for e in map(chunks.agent_event_json, response.events) if e is not None]}
    return JSONResponse(body)


def chat_request_from_json(body: dict[str, Any]) -> tuple[ChatCompletionRequest, pb.ChatRequest]:
    """A parsed request body, checked and translated; INVALID_ARGUMENT for anything the
    executor could not take (the 400s of docs/api.md)."""
    reject_forbidden_fields(body)
    try:
        parsed = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        param, message = param_of(exc)
        raise invalid_argument(message, param) from None
    try:
        return parsed, chat_request_from_openai(parsed)
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): JSON allows it, UTF-8 does not
        raise invalid_argument("the request contains a string that is not valid Unicode (an unpaired surrogate escape)", None, "INVALID_JSON") from None


def wants_tool_events(request: Request) -> bool:
    """Opt-in extension: ``x-agentgateway-events: tools``. Default output stays pure OpenAI."""
    return "tools" in {v.strip() for v in request.headers.get("x-agentgateway-events", "").lower().split(",")}


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    return parse_json_body(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytearray:
    """The request body, or 413 ``REQUEST_TOO_LARGE`` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_large = GatewayError("INVALID_ARGUMENT", "REQUEST_TOO_LARGE", f"request body is larger than {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise too_large
    return data


def parse_json_body(data: bytes | bytearray) -> dict[str, Any]:
    """The body as a JSON object, or INVALID_ARGUMENT ``INVALID_JSON``: not JSON, not an
    object, NaN/Infinity, or nested deeper than ``MAX_JSON_DEPTH``."""
    try:
        body = json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise invalid_argument("We could not parse the JSON body of your request. Send valid JSON.", None, "INVALID_JSON") from None
    except RecursionError:  # thousands of nested brackets: the parser gives up before we can count
        raise _too_deep(None) from None
    if not isinstance(body, dict):
        raise invalid_argument("the request body must be a JSON object", None, "INVALID_JSON")
    too_deep = field_nested_too_deep(body, MAX_JSON_DEPTH)
    if too_deep is not None:
        raise _too_deep(too_deep)
    return body


def _too_deep(param: str | None) -> GatewayError:
    return invalid_argument(f"the request JSON is nested more than {MAX_JSON_DEPTH} levels deep", param, "INVALID_JSON")


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259), though Python's parser accepts them.
    raise ValueError(f"{name} is not valid JSON")


async def next_or_none(events: AsyncIterator[T]) -> T | None:
    """The next message of a streaming call, None at its end; its failure as a GatewayError."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc_error(exc) from None


async def _first_visible(request: Request, call: StreamCall, events: AsyncIterator[Event]) -> tuple[Event | None, list[Event]]:
    """Read events until one produces output. A client that leaves meanwhile cancels the call,
    which wakes the pending read with ``CancelledError``: the reads are this task's own, with
    no task per event."""
    buffered: list[Event] = []
    disconnect = asyncio.ensure_future(wait_disconnect(request))
    disconnect.add_done_callback(lambda watcher: None if watcher.cancelled() else call.cancel())
    try:
        while True:
            try:
                event = await next_or_none(events)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if disconnect.done() and not disconnect.cancelled() and (task is None or task.cancelling() == 0):
                    return None, buffered  # the client left; a cancellation of this task propagates
                raise
            if event is None:
                raise GatewayError("INTERNAL", "NO_FINAL_OUTPUT", "the run ended without output")
            if event.event.WhichOneof("event") in _VISIBLE:
                return event, buffered
            buffered.append(event)
    finally:
        disconnect.cancel()


async def wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _sse(
    meta: chunks.CompletionMeta, pending: list[Event], events: AsyncIterator[Event], call: StreamCall, tool_events: bool, open_calls: OpenCalls
) -> AsyncGenerator[bytes, None]:
    """The SSE body. Errors here arrive after the headers, so they are sent in-band."""
    usage = None
    finished = False
    approval: pb.ApprovalRequired | None = None
    streamed_text = False
    with open_calls.open(call):
        try:
            yield chunks.sse(chunks.chunk(meta, {"role": "assistant", "content": ""}))
            event: Event | None = pending.pop(0)
            while event is not None:
                kind = event.event.WhichOneof("event")
                if kind == "text_delta":
                    streamed_text = streamed_text or bool(event.event.text_delta.text)
                    yield chunks.sse(chunks.chunk(meta, {"content": event.event.text_delta.text}))
                elif kind == "tool_call_delta":
                    yield chunks.sse(chunks.chunk(meta, {"tool_calls": [chunks.tool_call_delta_json(event.event.tool_call_delta)]}))
                elif kind == "usage":
                    usage = event.event.usage
                elif kind == "approval_required":
                    approval = event.event.approval_required
                elif kind == "final_output":
                    finished = True
                    final = event.event.final_output
                    # A paused run's last chunk carries the approval, as the unary message does.
                    delta = approval_delta(approval, meta.model, after_text=streamed_text) if approval is not None else {}
                    yield chunks.sse(chunks.chunk(meta, delta, chunks.finish_reason(final.finish_reason)))
                elif tool_events:
                    payload = chunks.agent_event_json(event.event)
                    if payload is not None:
                        yield chunks.extension_sse(meta, payload)
                event = pending.pop(0) if pending else await next_or_none(events)
            if usage is not None:
                yield chunks.sse({**chunks.chunk(meta, {}), "choices": [], "usage": chunks.usage_json(usage)})
            yield chunks.sse("[DONE]")
        except (GatewayError, asyncio.CancelledError) as error:
            if open_calls.cut:  # the shutdown grace ran out mid-stream
                yield chunks.sse(error_body(shutting_down()))
            elif isinstance(error, asyncio.CancelledError):
                raise
            elif error.reason == "GUARDRAIL_TRIGGERED" and not finished:
                # An output guardrail tripped after text went out: OpenAI's way to say "cut".
                yield chunks.sse(chunks.chunk(meta, {}, "content_filter"))
                yield chunks.sse("[DONE]")
            else:
                yield chunks.sse(error_body(error))
        finally:
            # Runs on normal end and when EventStream cancels us because the client disconnected.
            call.cancel()
