"""``/v1/responses``: OpenAI's Responses API (Open Responses) over ``ExecutorService``.

A translator, as the chat route is: the JSON body becomes a ``ResponseRequest``, the executor
runs it (history, the run, storage), and its answer becomes a Response object or the Open
Responses event stream (shim/responses_events.py). Errors found before the stream starts are
OpenAI error JSON; after, a ``response.failed`` event with the error.

Fields of the request the gateway accepts but does nothing with (``_IGNORED``) are documented in
docs/api.md; any other unknown field is a 400, as OpenAI answers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import responses_pb2 as rpb
from services.errors import GatewayError, invalid_argument
from services.responses.output import OutputAssembler
from services.responses.wire import item_from_json, item_to_json, response_to_json
from services.rpc.structs import struct_from_json
from services.settings import GatewaySettings
from services.vocabulary import RESPONSE_FORMAT_TYPE, TOOL_CHOICE_MODE
from shim import chunks
from shim.completions import await_reply, next_or_none, read_json, wait_disconnect, wants_tool_events
from shim.errors import error_body
from shim.event_stream import EventStream
from shim.json_response import JSONResponse
from shim.responses_events import ResponseEvents, sse
from shim.schemas import ValidationError, param_of
from shim.shutdown import OpenCalls, shutting_down

__all__ = ["create_response", "delete_response", "get_response", "list_input_items"]

# Accepted and not acted on (they tune OpenAI's own service): see docs/api.md.
_IGNORED = frozenset(
    {"include", "truncation", "prompt_cache_key", "prompt_cache_retention", "service_tier", "safety_identifier", "top_logprobs", "stream_options"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FunctionTool(_Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(_Strict):
    type: Literal["function"]
    name: str = Field(min_length=1)


class TextFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")  # verbosity: a hint the gateway does not pass on
    format: TextFormat | None = None


class Reasoning(BaseModel):
    model_config = ConfigDict(extra="ignore")  # summary, generate_summary
    effort: str | None = None


class ConversationRef(_Strict):
    id: str = Field(min_length=1)


class CreateResponseBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[Any]
    instructions: str | None = None
    stream: bool | None = False
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    user: str | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    background: bool | None = None


def response_request_from_json(data: dict[str, Any]) -> rpb.ResponseRequest:
    """The body, checked, as the executor's request (the 400s of docs/api.md)."""
    try:
        body = CreateResponseBody.model_validate(data)
    except ValidationError as exc:
        param, message = param_of(exc)
        raise invalid_argument(message, param) from None
    unknown = sorted(set(body.model_extra or {}) - _IGNORED)
    if unknown:
        raise invalid_argument(f"Unknown parameter: '{unknown[0]}'.", unknown[0], "UNKNOWN_PARAMETER")
    if body.background:
        raise invalid_argument("background responses are not supported: send the request without it (or stream it)", "background")
    items = [{"role": "user", "content": body.input}] if isinstance(body.input, str) else body.input
    if not items:
        raise invalid_argument("input must not be empty", "input")
    request = rpb.ResponseRequest(
        model=body.model,
        input=[item_from_json(item, f"input[{n}]") for n, item in enumerate(items)],
        instructions=body.instructions or "",
        metadata=body.metadata or {},
        user=body.user or "",
        previous_response_id=body.previous_response_id or "",
        conversation=body.conversation if isinstance(body.conversation, str) else body.conversation.id if body.conversation else "",
    )
    if body.store is not None:
        request.store = body.store
    sampling = pb.SamplingParams()
    for name in ("temperature", "top_p", "parallel_tool_calls"):
        if getattr(body, name) is not None:
            setattr(sampling, name, getattr(body, name))
    if body.max_output_tokens is not None:
        sampling.max_tokens = body.max_output_tokens
    if body.reasoning is not None and body.reasoning.effort:
        sampling.reasoning_effort = body.reasoning.effort
    request.sampling.CopyFrom(sampling)
    for index, tool in enumerate(body.tools or ()):
        fn = pb.FunctionDefinition(name=tool.name, description=tool.description or "")
        if tool.parameters is not None:
            fn.parameters.CopyFrom(struct_from_json(tool.parameters, f"tools[{index}].parameters"))
        if tool.strict is not None:
            fn.strict = tool.strict
        request.tools.append(pb.ToolDefinition(type="function", function=fn))
    if isinstance(body.tool_choice, str):
        request.tool_choice.mode = TOOL_CHOICE_MODE.to_proto(body.tool_choice)
    elif body.tool_choice is not None:
        request.tool_choice.function_name = body.tool_choice.name
    fmt = body.text.format if body.text is not None else None
    if fmt is not None:
        request.text_format.type = RESPONSE_FORMAT_TYPE.to_proto(fmt.type)
        if fmt.type == "json_schema":
            request.text_format.json_schema.name = fmt.name or "output"
            request.text_format.json_schema.description = fmt.description or ""
            if fmt.schema_ is not None:
                request.text_format.json_schema.schema.CopyFrom(struct_from_json(fmt.schema_, "text.format.schema"))
            if fmt.strict is not None:
                request.text_format.json_schema.strict = fmt.strict
    return request


def _tools_json(request: rpb.ResponseRequest) -> list[dict[str, Any]]:
    """The request's tools as the response echoes them."""
    out = []
    for tool in request.tools:
        fn = tool.function
        entry: dict[str, Any] = {
            "type": "function",
            "name": fn.name,
            "description": fn.description or None,
            "strict": fn.strict if fn.HasField("strict") else None,
        }
        entry["parameters"] = MessageToDict(fn.parameters) if fn.HasField("parameters") else None
        out.append(entry)
    return out


def _tool_choice_json(request: rpb.ResponseRequest) -> object:
    which = request.tool_choice.WhichOneof("choice")
    if which == "mode":
        return TOOL_CHOICE_MODE.from_proto(request.tool_choice.mode) or "auto"
    if which == "function_name":
        return {"type": "function", "name": request.tool_choice.function_name}
    return "auto"


def _json(response: rpb.Response, request: rpb.ResponseRequest) -> dict[str, Any]:
    return response_to_json(response, tools=_tools_json(request), tool_choice=_tool_choice_json(request))


async def create_response(request: Request) -> Response:
    settings: GatewaySettings = request.app.state.settings
    data = await read_json(request, settings.max_body_bytes)
    wanted = response_request_from_json(data)
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    options = {"metadata": request.state.grpc_metadata, "timeout": settings.request_timeout_s}
    if not data.get("stream"):
        reply = await await_reply(request, executor.CreateResponse(ex_pb.CreateResponseRequest(request=wanted), **options))
        if reply is None:
            return Response(status_code=204)
        body = _json(reply.response, wanted)
        if wants_tool_events(request):
            body["agentgateway"] = {"events": [e for e in map(chunks.agent_event_json, reply.response.events) if e is not None]}
        return JSONResponse(body)
    call = executor.StreamResponse(ex_pb.StreamResponseRequest(request=wanted), **options)
    parts: AsyncIterator[ex_pb.StreamResponseResponse] = aiter(call)
    open_calls: OpenCalls = request.app.state.open_calls
    # Until the run's first event, a failure (unknown model, no permission, rate limit) is
    # still an ordinary error reply: read that far before the headers go out, watching for
    # the client leaving meanwhile (a run may call tools for a while before it says anything).
    reading = asyncio.ensure_future(_opening(parts))
    gone = asyncio.ensure_future(wait_disconnect(request))
    try:
        with open_calls.open(call):
            await asyncio.wait({reading, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():
            reading.cancel()
            call.cancel()
            return Response(status_code=204)
        started, first = reading.result()
    except BaseException:
        reading.cancel()
        call.cancel()
        raise
    finally:
        gone.cancel()
    if started is None or started.WhichOneof("part") != "started":
        call.cancel()
        raise GatewayError("INTERNAL", "NO_RESPONSE", "the run ended before it started")
    events = _stream(started.started, first, parts, call, wanted, open_calls, wants_tool_events(request))
    return EventStream(events, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _opening(parts: AsyncIterator[ex_pb.StreamResponseResponse]) -> tuple[ex_pb.StreamResponseResponse | None, ex_pb.StreamResponseResponse | None]:
    return await next_or_none(parts), await next_or_none(parts)


async def _stream(
    started: rpb.Response,
    first: ex_pb.StreamResponseResponse | None,
    parts: AsyncIterator[ex_pb.StreamResponseResponse],
    call: Any,
    wanted: rpb.ResponseRequest,
    open_calls: OpenCalls,
    tool_events: bool,
) -> AsyncGenerator[bytes, None]:
    events, assembler = ResponseEvents(), OutputAssembler(started.id)
    with open_calls.open(call):
        try:
            for event in events.opening(_json(started, wanted)):
                yield sse(event)
            part = first
            while part is not None:
                which = part.WhichOneof("part")
                if which == "event":
                    for event in events.steps(assembler.event(part.event)):
                        yield sse(event)
                    # Every gateway tool and handoff, MCP calls too (their items are above): opt-in.
                    if tool_events and (payload := chunks.agent_event_json(part.event)) is not None:
                        yield sse(events.extension(payload))
                elif which == "finished":
                    for event in events.steps(assembler.finish()):
                        yield sse(event)
                    incomplete = part.finished.status == rpb.RESPONSE_STATUS_INCOMPLETE
                    yield sse(events.ending("incomplete" if incomplete else "completed", _json(part.finished, wanted)))
                    return
                part = await next_or_none(parts)
            raise GatewayError("UNAVAILABLE", "UPSTREAM_BAD_RESPONSE", "the run ended before its response was finished")
        except (GatewayError, asyncio.CancelledError) as error:
            if isinstance(error, asyncio.CancelledError) and not open_calls.cut:
                raise
            failed = rpb.Response()
            failed.CopyFrom(started)
            failed.status = rpb.RESPONSE_STATUS_FAILED
            body = error_body(error if isinstance(error, GatewayError) else shutting_down())["error"]
            failed.error.CopyFrom(pb.RunError(reason=str(body.get("code", "")).upper(), message=str(body.get("message", ""))))
            yield sse(events.ending("failed", _json(failed, wanted)))
        finally:
            call.cancel()


def _name(request: Request) -> str:
    return f"responses/{request.path_params['response_id']}"


async def get_response(request: Request) -> Response:
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    found = await executor.GetResponse(ex_pb.GetResponseRequest(name=_name(request)), metadata=request.state.grpc_metadata, timeout=10)
    return JSONResponse(response_to_json(found.response))


async def delete_response(request: Request) -> Response:
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    await executor.DeleteResponse(ex_pb.DeleteResponseRequest(name=_name(request)), metadata=request.state.grpc_metadata, timeout=10)
    return JSONResponse({"id": request.path_params["response_id"], "object": "response", "deleted": True})


async def list_input_items(request: Request) -> Response:
    executor: ex_grpc.ExecutorServiceAsyncStub = request.app.state.executor
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        raise invalid_argument("limit must be an integer", "limit") from None
    if not 1 <= limit <= 100:
        raise invalid_argument("limit must be between 1 and 100", "limit")
    page = await executor.ListResponseInputItems(
        ex_pb.ListResponseInputItemsRequest(parent=_name(request), page_size=limit),
        metadata=request.state.grpc_metadata,
        timeout=10,
    )
    data = [item_to_json(i) for i in page.items]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": bool(page.next_page_token),
        }
    )
