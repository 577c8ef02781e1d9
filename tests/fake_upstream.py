"""A fake OpenAI-compatible upstream LLM served over real HTTP on loopback.

Used three ways:

* end-to-end tests script exact replies (text, tool calls, errors, delays, hangs)
  and inspect what the gateway actually sent upstream (`FakeUpstream.requests`);
* benchmarks point the gateway at it to measure gateway overhead without a real LLM;
* ``python -m tests.fake_upstream --port 8100`` runs it as a deterministic offline
  "demo model" so ``make run`` works without internet.

It is a real server (uvicorn + Starlette in a background thread with its own event
loop) rather than an httpx mock so that the gateway's real HTTP client, SSE parsing,
timeouts and connection closing are exercised exactly as in production.

Wire shapes follow the official Chat Completions API (``chat.completion`` /
``chat.completion.chunk`` objects, ``data: ...`` SSE lines ending in
``data: [DONE]``, OpenAI error bodies), so the official ``openai`` client and the
Agents SDK parse them unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import socket
import string
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = [
    "CHAT_PATH",
    "DEFAULT_MODEL",
    "ErrorReply",
    "FakeUpstream",
    "HangReply",
    "RecordedRequest",
    "Reply",
    "TextReply",
    "ToolCall",
    "ToolCallReply",
    "Usage",
    "main",
]

DEFAULT_MODEL = "fake-model"
CHAT_PATH = "/v1/chat/completions"

# How often waits poll for a client disconnect / server stop. Bounds how quickly a
# closed client shows up as `disconnected` (well under the 1 s tests allow).
_POLL_SECONDS = 0.02


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Usage:
    """Token usage to report instead of the computed word counts."""

    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, Any]:
        # Include the *_details objects like the real API does: the Agents SDK reads them.
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


@dataclass(frozen=True)
class TextReply:
    """Assistant text. Streamed as `chunks` content deltas split on word boundaries."""

    content: str
    chunks: int = 3
    chunk_delay: float = 0.0  # seconds between streamed chunks
    delay: float = 0.0  # seconds before the response headers
    finish_reason: Literal["stop", "length"] = "stop"
    usage: Usage | None = None


@dataclass(frozen=True)
class ToolCall:
    """One function call. A mapping for `arguments` is JSON-encoded for convenience;
    `id=None` gets a deterministic ``call_<n>_<i>`` id."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arguments, str):
            object.__setattr__(self, "arguments", json.dumps(dict(self.arguments)))

    @property
    def arguments_json(self) -> str:
        assert isinstance(self.arguments, str)  # normalised in __post_init__
        return self.arguments


@dataclass(frozen=True)
class ToolCallReply:
    """Assistant tool calls (``finish_reason: "tool_calls"``). When streamed, each
    call's arguments are split across `fragments` (at least 2) deltas."""

    calls: Sequence[ToolCall]
    fragments: int = 3
    chunk_delay: float = 0.0
    delay: float = 0.0
    usage: Usage | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", tuple(self.calls))
        if not self.calls:
            raise ValueError("ToolCallReply needs at least one ToolCall")


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with an OpenAI error body (sent before any stream starts, as the
    real API does)."""

    status: int = 500
    message: str = "The fake upstream was told to fail."
    type: str = "server_error"
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"retry-after": "1"}
    delay: float = 0.0


@dataclass(frozen=True)
class HangReply:
    """Never finish. Streaming requests get headers, the role chunk and `partial`
    (one chunk per word) then silence; non-streaming requests (or
    ``before_headers=True``) never get headers. Ends only when the client goes away
    (recorded as ``disconnected``) or the server stops."""

    partial: str = ""
    before_headers: bool = False


Reply: TypeAlias = TextReply | ToolCallReply | ErrorReply | HangReply


# -------------------------------------------------------------------------- recording


@dataclass
class RecordedRequest:
    """One HTTP request as the fake upstream saw it. Times are `time.monotonic()`."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case keys; repeated headers joined with ", "
    raw_body: bytes
    body: Any  # parsed JSON, None when absent or malformed
    started: float
    finished: float | None = None  # set just before the final bytes are sent
    status: int | None = None
    disconnected: bool = False  # client went away before the response finished
    reply: Reply | None = None  # the scripted reply consumed; None means demo/other

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return self.body["messages"]
        return []

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def done(self) -> bool:
        return self.finished is not None


@dataclass(frozen=True)
class _Script:
    reply: Reply
    model: str | None  # None = matches any model


@dataclass(frozen=True)
class _Ctx:
    """Per-response envelope data shared by every chunk of one completion."""

    id: str
    created: int
    model: str
    include_usage: bool
    usage: Usage
    call_prefix: str  # for deterministic tool call ids


_Outcome = Literal["ok", "disconnected", "stopping"]


# ----------------------------------------------------------------------------- server


class FakeUpstream:
    """Fake Chat Completions server. ``start()`` runs it in a background thread;
    scripting and inspection methods are thread-safe and meant for the test thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        demo_chunk_delay: float = 0.0,
        models: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port  # replaced by the bound port on start() when 0
        self.demo_chunk_delay = demo_chunk_delay
        self._extra_models = tuple(models)
        # One Condition guards scripts and records and wakes `wait_for` on every change.
        self._cond = threading.Condition()
        self._scripts: list[_Script] = []
        self._script_models: set[str] = set()
        self._records: list[RecordedRequest] = []
        # Secrets that must never arrive here (e.g. the gateway's client keys): every request
        # is checked, across resets, and any arrival is kept in `violations`.
        self._forbidden: set[str] = set()
        self.violations: list[str] = []
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self.app = Starlette(
            routes=[
                Route(CHAT_PATH, self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                # Catch-all so unknown URLs get an OpenAI-shaped 404 and are recorded too.
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:51234``."""
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI client base URL, e.g. ``http://127.0.0.1:51234/v1``."""
        return f"{self.url}/v1"

    def _config(self, **overrides: Any) -> uvicorn.Config:
        options: dict[str, Any] = {
            "log_level": "warning",
            "lifespan": "off",
            "http": "h11",
            "ws": "none",
            "loop": "asyncio",
            "access_log": False,
            # Safety net only: hangs end by themselves on stop (see `_pause`).
            "timeout_graceful_shutdown": 2,
        }
        options.update(overrides)
        return uvicorn.Config(self.app, **options)

    def start(self, timeout: float = 10.0) -> FakeUpstream:
        """Bind, serve in a background thread and wait until connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        # Bind here (not in uvicorn) so port 0 is resolved before start() returns and
        # bind errors surface in the caller's thread.
        # IPPROTO_TCP, not 0: asyncio turns TCP_NODELAY on only for sockets whose proto says TCP,
        # and without it Nagle's algorithm holds each SSE write for the client's delayed ACK
        # (~40 ms a response on loopback). Linux copies the option to accepted sockets.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        self._thread_error = None
        # log_config=None: don't let uvicorn reconfigure the test process's logging.
        server = uvicorn.Server(self._config(log_config=None))
        self._server = server
        thread = threading.Thread(target=self._run, args=(server, sock), name=f"fake-upstream:{self.port}", daemon=True)
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._server, self._thread = None, None
                server.should_exit = True
                thread.join(timeout=5)
                sock.close()
                raise RuntimeError(f"FakeUpstream failed to start: {self._thread_error!r}")
            time.sleep(0.005)
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # noqa: BLE001 - surfaced by start(); a thread can't raise to us
            self._thread_error = exc

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; in-flight hangs end immediately. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server, self._thread = None, None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run_forever(self) -> None:
        """Serve in the foreground (CLI / demo model) until Ctrl-C."""
        server = uvicorn.Server(self._config(host=self.host, port=self.port, log_level="info"))
        self._server = server
        try:
            server.run()
        finally:
            self._server = None

    # -- scripting -------------------------------------------------------------------

    def queue(self, *replies: Reply, model: str | None = None) -> None:
        """Append replies (FIFO). With `model`, only requests for that upstream model
        consume them; otherwise any request does."""
        with self._cond:
            self._scripts.extend(_Script(reply, model) for reply in replies)
            if model is not None:
                self._script_models.add(model)
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Number of queued replies not consumed yet."""
        with self._cond:
            return len(self._scripts)

    def _take(self, model: str) -> Reply | None:
        with self._cond:
            for index, script in enumerate(self._scripts):
                if script.model is None or script.model == model:
                    del self._scripts[index]
                    return script.reply
        return None

    # -- inspection ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of all recorded requests, oldest first (records themselves are live)."""
        with self._cond:
            return list(self._records)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == CHAT_PATH]

    def last_request(self, path: str | None = CHAT_PATH) -> RecordedRequest:
        """Most recent request to `path` (chat completions by default; None = any)."""
        for record in reversed(self.requests):
            if path is None or record.path == path:
                return record
        raise LookupError(f"no request recorded for {path or 'any path'}")

    def forbid(self, *secrets: str) -> None:
        """Record a violation whenever a request carries any of ``secrets`` (headers or body)."""
        with self._cond:
            self._forbidden.update(s for s in secrets if s)

    def reset(self) -> None:
        """Forget queued scripts, script model names and recorded requests."""
        with self._cond:
            self._scripts.clear()
            self._script_models.clear()
            self._records.clear()
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until `predicate()` is true (re-checked on every recorded change).
        Raises TimeoutError. LookupError from the predicate (e.g. `last_request()`
        before any request arrived) counts as "not yet"."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not _holds(predicate):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s")
                # Bounded wait: predicates may also depend on state we don't notify for.
                self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """`wait_for` for async tests: polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while not _holds(predicate):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)

    def _record(self, record: RecordedRequest) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    def _finish(self, record: RecordedRequest, status: int, *, disconnected: bool = False) -> None:
        with self._cond:
            record.status = status
            record.disconnected = disconnected
            record.finished = time.monotonic()
            self._cond.notify_all()

    # -- HTTP handlers ---------------------------------------------------------------

    async def _begin(self, request: Request) -> RecordedRequest:
        started = time.monotonic()
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        record = RecordedRequest(request.method, request.url.path, headers, raw, body, started)
        seen = raw.decode("utf-8", "replace") + "\n" + "\n".join(f"{k}: {v}" for k, v in headers.items())
        with self._cond:
            self.violations.extend(f"{request.method} {request.url.path} carried a forbidden secret" for secret in self._forbidden if secret in seen)
        self._record(record)
        return record

    def _respond(self, record: RecordedRequest, response: Response) -> Response:
        # Mark finished *before* the body goes out: a test inspecting the record right
        # after its client returned must never see a half-finished record.
        self._finish(record, response.status_code)
        return response

    async def _not_found(self, request: Request) -> Response:
        record = await self._begin(request)
        message = f"Invalid URL ({request.method} {request.url.path})"
        return self._respond(record, _error_response(404, message, "invalid_request_error"))

    async def _models(self, request: Request) -> Response:
        record = await self._begin(request)
        with self._cond:
            names = sorted(self._script_models | set(self._extra_models) | {DEFAULT_MODEL})
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake-upstream"} for name in names]
        return self._respond(record, JSONResponse({"object": "list", "data": data}))

    async def _chat(self, request: Request) -> Response:
        record = await self._begin(request)
        body = record.body
        if record.raw_body and body is None:
            message = "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload."
            return self._respond(record, _error_response(400, message, "invalid_request_error"))
        if not isinstance(body, dict):
            message = "Request body must be a JSON object."
            return self._respond(record, _error_response(400, message, "invalid_request_error"))
        for name, kind in (("model", str), ("messages", list)):
            if not isinstance(body.get(name), kind):
                message = f"Missing required parameter: '{name}'."
                response = _error_response(400, message, "invalid_request_error", code="missing_required_parameter", param=name)
                return self._respond(record, response)

        model: str = body["model"]
        scripted = self._take(model)
        record.reply = scripted
        reply = scripted if scripted is not None else self._demo_reply(body)
        stream = body.get("stream") is True

        delay = getattr(reply, "delay", 0.0)
        if isinstance(reply, HangReply) and (reply.before_headers or not stream):
            delay = math.inf
        if delay > 0:
            outcome = await self._pause(request, delay)
            if outcome != "ok":
                return self._abandon(record, outcome)

        if isinstance(reply, ErrorReply):
            response = _error_response(reply.status, reply.message, reply.type, code=reply.code)
            response.headers.update(reply.headers)
            return self._respond(record, response)

        assert not isinstance(reply, HangReply) or stream  # non-stream hangs never get here
        ctx = self._context(body, reply)
        headers = {"x-request-id": f"req_{ctx.id}"}
        if stream:
            return StreamingResponse(
                self._sse(request, record, ctx, reply),
                media_type="text/event-stream",
                headers={**headers, "cache-control": "no-cache"},
            )
        assert isinstance(reply, TextReply | ToolCallReply)
        return self._respond(record, JSONResponse(_completion(ctx, reply), headers=headers))

    def _abandon(self, record: RecordedRequest, outcome: _Outcome) -> Response:
        if outcome == "disconnected":
            # Nobody is listening; the response only completes the ASGI cycle.
            self._finish(record, 499, disconnected=True)
            return Response(status_code=499)
        return self._respond(record, _error_response(503, "The fake upstream is shutting down.", "server_error"))

    async def _pause(self, request: Request, seconds: float) -> _Outcome:
        """Sleep, but wake early when the client disconnects or the server stops.
        Polling `is_disconnected` works whatever ASGI spec version uvicorn advertises
        (StreamingResponse only watches for disconnects under spec < 2.4)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if self._stopping.is_set():
                return "stopping"
            if await request.is_disconnected():
                return "disconnected"
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "ok"
            await asyncio.sleep(min(_POLL_SECONDS, remaining))

    async def _sse(self, request: Request, record: RecordedRequest, ctx: _Ctx, reply: TextReply | ToolCallReply | HangReply) -> AsyncIterator[str]:
        # "cancelled" survives only if the generator is cancelled/closed mid-stream,
        # which is how Starlette reacts to a client disconnect.
        outcome: _Outcome | Literal["cancelled", "done"] = "cancelled"
        try:
            chunk_delay = 0.0 if isinstance(reply, HangReply) else reply.chunk_delay
            for index, chunk in enumerate(_stream_chunks(ctx, reply)):
                if index > 0 and chunk_delay > 0:
                    outcome = await self._pause(request, chunk_delay)
                    if outcome != "ok":
                        return
                yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"
            if isinstance(reply, HangReply):
                outcome = await self._pause(request, math.inf)
                return
            # Finish before the last event for the same reason as `_respond`.
            outcome = "done"
            self._finish(record, 200)
            yield "data: [DONE]\n\n"
        finally:
            if outcome != "done":
                self._finish(record, 200, disconnected=outcome in ("cancelled", "disconnected"))

    # -- demo behaviour --------------------------------------------------------------

    def _demo_text(self, content: str) -> TextReply:
        # One chunk per word so the demo model visibly streams.
        return TextReply(content, chunks=max(1, len(content.split())), chunk_delay=self.demo_chunk_delay)

    def _demo_reply(self, body: dict[str, Any]) -> TextReply | ToolCallReply:
        """Deterministic reply when no script matches (see module docs / README)."""
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        last = messages[-1] if messages else {}
        user_text = _last_user_text(messages)
        word = _last_word(user_text)

        if last.get("role") == "tool":
            return self._demo_text(f"{_tool_name(messages, last)} returned: {_text(last.get('content'))}")

        for tool in body.get("tools") or []:
            function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                continue
            name: str = function["name"]
            if _mentions(user_text, name):
                schema = function.get("parameters")
                schema = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
                arguments = _placeholder(schema, schema, word)
                return ToolCallReply([ToolCall(name, json.dumps(arguments))], chunk_delay=self.demo_chunk_delay)

        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            json_schema = response_format.get("json_schema") or {}
            schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
            schema = schema if isinstance(schema, dict) else {}
            return self._demo_text(json.dumps(_placeholder(schema, schema, word)))

        return self._demo_text(f"You said: {user_text}")

    def _context(self, body: dict[str, Any], reply: Reply) -> _Ctx:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        override = getattr(reply, "usage", None)
        usage = override or Usage(
            prompt_tokens=max(1, sum(len(_text(m.get("content")).split()) for m in messages)),
            completion_tokens=max(1, _reply_words(reply)),
        )
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
        return _Ctx(
            id=f"chatcmpl-fake{next(self._ids)}",
            created=int(time.time()),
            model=body["model"],
            include_usage=include_usage,
            usage=usage,
            call_prefix=f"call_{len(messages)}",
        )


def _holds(predicate: Callable[[], bool]) -> bool:
    try:
        return bool(predicate())
    except LookupError:
        return False


# ----------------------------------------------------------------- response builders


def _error_response(status: int, message: str, type_: str, *, code: str | None = None, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _call_id(ctx: _Ctx, call: ToolCall, index: int) -> str:
    # Message count makes ids unique within a conversation yet deterministic.
    return call.id or f"{ctx.call_prefix}_{index}"


def _completion(ctx: _Ctx, reply: TextReply | ToolCallReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if isinstance(reply, TextReply):
        message["content"] = reply.content
        finish_reason = reply.finish_reason
    else:
        message["tool_calls"] = [
            {
                "id": _call_id(ctx, call, i),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for i, call in enumerate(reply.calls)
        ]
        finish_reason = "tool_calls"
    return {
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": ctx.usage.to_dict(),
        "service_tier": "default",
        "system_fingerprint": None,
    }


def _chunk(ctx: _Ctx, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": ctx.id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "service_tier": "default",
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if ctx.include_usage:
        chunk["usage"] = None  # the real API sends null usage on every chunk but the last
    return chunk


def _stream_chunks(ctx: _Ctx, reply: TextReply | ToolCallReply | HangReply) -> list[dict[str, Any]]:
    if isinstance(reply, ToolCallReply):
        chunks: list[dict[str, Any]] = []
        for i, call in enumerate(reply.calls):
            # First delta of a call carries id/type/name; later ones only argument text.
            head = {
                "index": i,
                "id": _call_id(ctx, call, i),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            delta: dict[str, Any] = {"tool_calls": [head]}
            if i == 0:
                delta = {"role": "assistant", "content": None, "refusal": None, **delta}
            chunks.append(_chunk(ctx, delta))
            for fragment in _split_chars(call.arguments_json, max(2, reply.fragments)):
                chunks.append(_chunk(ctx, {"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}))
        finish_reason = "tool_calls"
    else:
        if isinstance(reply, TextReply):
            content, parts = reply.content, reply.chunks
        else:
            content, parts = reply.partial, len(reply.partial.split())
        chunks = [_chunk(ctx, {"role": "assistant", "content": "", "refusal": None})]
        chunks += [_chunk(ctx, {"content": piece}) for piece in _split_words(content, parts)]
        if isinstance(reply, HangReply):
            return chunks  # no finish chunk: the stream never ends
        finish_reason = reply.finish_reason
    chunks.append(_chunk(ctx, {}, finish_reason))
    if ctx.include_usage:
        final = _chunk(ctx, {})
        final["choices"] = []
        final["usage"] = ctx.usage.to_dict()
        chunks.append(final)
    return chunks


def _split_words(text: str, parts: int) -> list[str]:
    """Split into at most `parts` pieces on word boundaries; ''.join(result) == text."""
    if not text:
        return []
    pieces = re.findall(r"\S+\s*", text)
    if not pieces:
        return [text]
    leading = text[: len(text) - len(text.lstrip())]
    pieces[0] = leading + pieces[0]
    return _group(pieces, parts)


def _split_chars(text: str, parts: int) -> list[str]:
    return _group(list(text), parts) if text else [""]


def _group(pieces: list[str], parts: int) -> list[str]:
    parts = max(1, min(parts, len(pieces)))
    size, extra = divmod(len(pieces), parts)
    groups: list[str] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        groups.append("".join(pieces[start:end]))
        start = end
    return groups


def _reply_words(reply: Reply) -> int:
    if isinstance(reply, TextReply):
        return len(reply.content.split())
    if isinstance(reply, ToolCallReply):
        return sum(len(f"{call.name} {call.arguments_json}".split()) for call in reply.calls)
    if isinstance(reply, HangReply):
        return len(reply.partial.split())
    return 0


# -------------------------------------------------------------------- demo helpers


def _text(content: Any) -> str:
    """Text of a message content: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        return " ".join(texts)
    return ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _last_word(text: str) -> str:
    for word in reversed(text.split()):
        stripped = word.strip(string.punctuation)
        if stripped:
            return stripped
    return "example"  # strings must not be empty placeholders


def _tool_name(messages: list[dict[str, Any]], tool_message: dict[str, Any]) -> str:
    call_id = tool_message.get("tool_call_id")
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") == call_id:
                name = (call.get("function") or {}).get("name")
                if isinstance(name, str):
                    return name
    name = tool_message.get("name")
    return name if isinstance(name, str) else str(call_id or "tool")


def _mentions(text: str, name: str) -> bool:
    candidates = {name, name.replace("_", " ")}
    if name.startswith("transfer_to_"):  # Agents SDK handoff tools
        target = name.removeprefix("transfer_to_")
        candidates |= {target, target.replace("_", " ")}
    lowered = text.lower()
    return any(re.search(rf"(?<!\w){re.escape(candidate.lower())}(?!\w)", lowered) for candidate in candidates if candidate.strip())


_SIMPLE_TYPES = {"string", "number", "integer", "boolean"}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref`` pointers (``#/$defs/X``, ``#/definitions/X``)."""
    for _ in range(32):  # guards against ref cycles
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        target: Any = root
        for token in filter(None, ref[1:].split("/")):
            target = target.get(token.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        schema = target if isinstance(target, dict) else {}
    return schema


def _variant(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The schema after refs and the first non-null anyOf/oneOf/allOf option."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            resolved = [_resolve(o, root) for o in options if isinstance(o, dict)]
            non_null = [o for o in resolved if o.get("type") != "null"]
            return _variant((non_null or resolved or [{}])[0], root)
    return schema


def _schema_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    return "object" if "properties" in schema else "array" if "items" in schema else "string"


def _placeholder(schema: dict[str, Any], root: dict[str, Any], word: str, depth: int = 0) -> Any:
    """A value satisfying `schema` built from fixed placeholders (no randomness)."""
    schema = _variant(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = _schema_type(schema)
    if kind == "string":
        return word
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "null" or depth > 16:
        return None
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = set(schema.get("required") or [])
    result: dict[str, Any] = {}
    for name, sub in properties.items():
        sub = sub if isinstance(sub, dict) else {}
        resolved = _variant(sub, root)
        simple = "enum" in resolved or "const" in resolved or _schema_type(resolved) in _SIMPLE_TYPES
        if name in required or simple:
            result[name] = _placeholder(sub, root, word, depth + 1)
    return result


# ------------------------------------------------------------------------------ CLI


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Offline fake OpenAI Chat Completions server (demo model).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between streamed demo chunks")
    args = parser.parse_args(argv)
    FakeUpstream(args.host, args.port, demo_chunk_delay=args.chunk_delay).run_forever()


if __name__ == "__main__":
    main()
