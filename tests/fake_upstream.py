"""A scriptable fake OpenAI-compatible upstream LLM served over real HTTP on loopback: Chat
Completions (``POST /v1/chat/completions``) and the Responses API (``POST /v1/responses``),
both answering from the same scripts.

Used two ways:

* end-to-end tests script exact replies (text, tool calls, errors, delays, hangs)
  and inspect what the gateway actually sent upstream (`FakeUpstream.requests`);
* benchmarks point the gateway at it to measure gateway overhead without a real LLM.

A request no script matches gets the offline demo model's reply
(`services.demo_model.demo_reply`), and every body is built by the demo model's wire
builders (`services.demo_wire`), so the official ``openai`` client and the Agents SDK
parse it unchanged. What this module adds is test-only: scripts, errors, hangs,
delays, a record of every request, forbidden secrets and disconnect detection.

It is a real server (uvicorn + Starlette in a background thread with its own event
loop) rather than an httpx mock so that the gateway's real HTTP client, SSE parsing,
timeouts and connection closing are exercised exactly as in production.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import demo_wire
from services import demo_wire_responses as responses_wire
from services.demo_model import bind_socket, demo_reply, server_config
from services.demo_wire import CHAT_PATH, ToolCall, Usage
from services.demo_wire_responses import RESPONSES_PATH

__all__ = [
    "CHAT_PATH",
    "DEFAULT_MODEL",
    "RESPONSES_PATH",
    "BrokenReply",
    "ErrorReply",
    "FakeUpstream",
    "HangReply",
    "RecordedRequest",
    "Reply",
    "TextReply",
    "ToolCall",
    "ToolCallReply",
    "Usage",
]

DEFAULT_MODEL = "fake-model"

# How often waits poll for a client disconnect / server stop. Bounds how quickly a
# closed client shows up as `disconnected` (well under the 1 s tests allow).
_POLL_SECONDS = 0.02


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class TextReply(demo_wire.TextReply):
    """Assistant text (see `services.demo_wire.TextReply`), sent after `delay` seconds."""

    delay: float = 0.0  # seconds before the response headers


@dataclass(frozen=True)
class ToolCallReply(demo_wire.ToolCallReply):
    """Assistant tool calls (see `services.demo_wire.ToolCallReply`), sent after `delay` seconds."""

    delay: float = 0.0


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


@dataclass(frozen=True)
class BrokenReply:
    """A 200 that goes wrong (Chat Completions). Non-streaming requests get ``body`` as it is
    (invalid JSON, a truncated body, an ``{"error": ...}`` object). Streaming requests get the
    role chunk and ``partial`` (one chunk per word), then ``ending``: ``"error"`` sends
    ``data: {"error": {...}}`` with ``message``; ``"eof"`` just closes, with no finish reason
    and no ``[DONE]``; ``"drop"`` breaks the connection mid-body (no end of chunked body)."""

    body: bytes = b"{not json"
    partial: str = ""
    ending: Literal["error", "eof", "drop"] = "eof"
    message: str = "The fake upstream broke mid-stream."


Reply: TypeAlias = demo_wire.TextReply | demo_wire.ToolCallReply | ErrorReply | HangReply | BrokenReply


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
    def input(self) -> list[dict[str, Any]]:
        """A Responses request's input items (a string input as one user message)."""
        raw = self.body.get("input") if isinstance(self.body, dict) else None
        if isinstance(raw, str):
            return [{"role": "user", "content": raw}]
        return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []

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


_Outcome = Literal["ok", "disconnected", "stopping"]


# ----------------------------------------------------------------------------- server


class FakeUpstream:
    """Fake Chat Completions and Responses server. ``start()`` runs it in a background thread;
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
                Route(RESPONSES_PATH, self._responses, methods=["POST"]),
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

    def start(self, timeout: float = 10.0) -> FakeUpstream:
        """Bind, serve in a background thread and wait until connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        # Bind here (not in uvicorn) so port 0 is resolved before start() returns and
        # bind errors surface in the caller's thread; TCP_NODELAY as the demo model has it.
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        self._thread_error = None
        # Graceful-shutdown timeout: a safety net only, hangs end by themselves on stop (see `_pause`).
        server = uvicorn.Server(server_config(self.app, timeout_graceful_shutdown=2))
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

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == RESPONSES_PATH]

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
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        record = RecordedRequest(request.method, request.url.path, headers, raw, demo_wire.parse_json(raw), started)
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
        return self._respond(record, demo_wire.not_found_response(request.method, request.url.path))

    async def _models(self, request: Request) -> Response:
        record = await self._begin(request)
        with self._cond:
            names = sorted(self._script_models | set(self._extra_models) | {DEFAULT_MODEL})
        return self._respond(record, demo_wire.models_response(names, "fake-upstream"))

    async def _chat(self, request: Request) -> Response:
        return await self._serve(request, demo_wire.CHAT_API)

    async def _responses(self, request: Request) -> Response:
        return await self._serve(request, responses_wire.RESPONSES_API)

    async def _serve(self, request: Request, api: demo_wire.WireApi) -> Response:
        record = await self._begin(request)
        body = record.body
        error = api.body_error(record.raw_body, body)
        if error is not None:
            return self._respond(record, error)

        scripted = self._take(body["model"])
        record.reply = scripted
        reply = scripted if scripted is not None else demo_reply(api.chat_view(body), self.demo_chunk_delay)
        stream = body.get("stream") is True

        delay = getattr(reply, "delay", 0.0)
        if isinstance(reply, HangReply) and (reply.before_headers or not stream):
            delay = math.inf
        if delay > 0:
            outcome = await self._pause(request, delay)
            if outcome != "ok":
                return self._abandon(record, outcome)

        if isinstance(reply, ErrorReply):
            response = demo_wire.error_response(reply.status, reply.message, reply.type, code=reply.code)
            response.headers.update(reply.headers)
            return self._respond(record, response)

        if isinstance(reply, BrokenReply) and not stream:
            return self._respond(record, Response(reply.body, media_type="application/json"))

        # A (streamed) hang or break sends its partial text like a text reply that never finishes.
        hang = isinstance(reply, HangReply)
        unfinished = isinstance(reply, HangReply | BrokenReply)
        wire = demo_wire.TextReply(reply.partial, chunks=len(reply.partial.split())) if isinstance(reply, HangReply | BrokenReply) else reply
        built = api.build(body, wire, f"{api.id_prefix}fake{next(self._ids)}", not unfinished)
        if stream:
            frames = built.frames()
            if isinstance(reply, BrokenReply) and reply.ending == "error":
                error = {"error": {"message": reply.message, "type": "server_error", "param": None, "code": None}}
                frames = [*frames, demo_wire.Frame(demo_wire.sse(error), paced=False)]
            events = self._sse(request, record, frames, wire.chunk_delay, hang=hang)
            if isinstance(reply, BrokenReply) and reply.ending == "drop":
                events = _dropped_after(events)
            return demo_wire.sse_response(built.id, events)
        return self._respond(record, built.unary())

    def _abandon(self, record: RecordedRequest, outcome: _Outcome) -> Response:
        if outcome == "disconnected":
            # Nobody is listening; the response only completes the ASGI cycle.
            self._finish(record, 499, disconnected=True)
            return Response(status_code=499)
        return self._respond(record, demo_wire.error_response(503, "The fake upstream is shutting down.", "server_error"))

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

    async def _sse(self, request: Request, record: RecordedRequest, frames: list[demo_wire.Frame], chunk_delay: float, *, hang: bool) -> AsyncIterator[str]:
        # "cancelled" survives only if the generator is cancelled/closed mid-stream,
        # which is how Starlette reacts to a client disconnect.
        outcome: _Outcome | Literal["cancelled", "done"] = "cancelled"
        try:
            for index, frame in enumerate(frames):
                if index > 0 and frame.paced and chunk_delay > 0:
                    outcome = await self._pause(request, chunk_delay)
                    if outcome != "ok":
                        return
                if index == len(frames) - 1 and not hang:
                    # Finish before the last event for the same reason as `_respond`.
                    outcome = "done"
                    self._finish(record, 200)
                yield frame.text
            if hang:
                outcome = await self._pause(request, math.inf)
        finally:
            if outcome != "done":
                self._finish(record, 200, disconnected=outcome in ("cancelled", "disconnected"))


async def _dropped_after(events: AsyncIterator[str]) -> AsyncIterator[str]:
    """``events``, then a failure mid-body: uvicorn drops the connection without ending it."""
    async for event in events:
        yield event
    raise ConnectionAbortedError("the fake upstream drops this connection on purpose")


def _holds(predicate: Callable[[], bool]) -> bool:
    try:
        return bool(predicate())
    except LookupError:
        return False
