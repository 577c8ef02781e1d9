"""MCP servers as gateway tools: one long-lived client session per ``kind: mcp`` entry.

A ``tools.yaml`` entry ``{name: calc, kind: mcp, command: [python, calc_server.py]}`` (stdio,
run in the config dir) or ``{name: calc, kind: mcp, url: http://127.0.0.1:9000/mcp}``
(streamable HTTP) becomes an ``McpToolProvider``; the server's tool ``add`` is the gateway
tool ``calc_add``.

Session lifetime
----------------
The mcp client is built from anyio context managers (transport, task groups, the session)
that must be entered and exited by the same task. Each session is therefore owned by a
supervisor task (``_Session``) that enters them, publishes the connected ``Client`` and
parks until it is told to stop or the transport reports end-of-stream; then it exits the
context managers itself, which closes the session and reaps the stdio process. Requests are
plain awaits on the shared client from the callers' own tasks (the dispatcher correlates
responses), so concurrent calls share one session and cancelling one call (a deadline)
abandons only that request.

When the session dies (server process exited, HTTP connection refused) the next request
opens a new one (logged at WARNING). A call that fails because the session died is retried
once on a new session only when it cannot have reached the server: the request was never
written, the HTTP connection could not be established, or an HTTP server answered "session
terminated" (it restarted and forgot the session). A call that was delivered to a server
which then died is not retried (tools need not be idempotent); it fails with ``ToolFailure``.

Integration
-----------
- ``start()`` connects (bounded by ``timeout_s``); ``list_tools``/``invoke`` also connect
  lazily. ``close()`` must be awaited at shutdown, on the loop that used the provider, before
  the loop ends: it ends the session and terminates (and reaps) the stdio server.
- ``timeout_s`` bounds start-up, ``tools/list`` and each ``tools/call`` (a backstop; the
  catalogue's own deadline cancels ``invoke`` earlier if shorter).
- stdio servers run in ``cwd`` with a minimal environment: the mcp SDK's safe set (HOME,
  LOGNAME, PATH, SHELL, TERM, USER), LANG/LC_ALL, plus the configured ``env`` (``"env:NAME"``
  values are read from the gateway environment). A bare ``python``/``python3`` command runs
  the gateway's own interpreter (``sys.executable``). Server stderr goes to the gateway's.
"""

from __future__ import annotations

import asyncio
import contextvars
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp_types as types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from services.log import get_logger, redact_url
from services.tools.config import McpToolConfig
from services.tools.provider import ToolFailure, ToolProvider, ToolSpec

__all__ = ["McpToolProvider"]

log = get_logger("tools")

# Pause before re-opening a session that died, so a crash-looping server is not hammered.
RESTART_BACKOFF_S = 0.2
# How long close() lets a session shut down gracefully before cancelling it.
_GRACEFUL_CLOSE_S = 5.0
# tools/list pages followed before giving up on a server whose cursor never ends.
_MAX_LIST_PAGES = 100
# Variables a stdio server inherits besides the mcp SDK's own safe set (HOME, LOGNAME, PATH,
# SHELL, TERM, USER); the rest of the gateway environment (API keys...) is never passed on.
_EXTRA_INHERITED_ENV = ("LANG", "LC_ALL")
_ENV_REF = "env:"

ConnectMode = Literal["auto", "legacy"]


@dataclass
class _CallState:
    """Per-call bookkeeping: did this call's request reach the transport?"""

    written: bool = False


_CALL: ContextVar[_CallState | None] = ContextVar("mcp_tools_call", default=None)


class _WatchedReadStream:
    """Transport read stream that reports end-of-stream (the session died) to its owner."""

    def __init__(self, inner: Any, on_eof: Any) -> None:
        self._inner = inner
        self._on_eof = on_eof

    def __getattr__(self, name: str) -> Any:  # e.g. ``last_context`` on context-aware streams
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_eof()
            raise

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class _TrackedWriteStream:
    """Transport write stream that marks the calling invoke's request as (possibly) delivered."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send(self, item: SessionMessage, /) -> None:
        state = _CALL.get()
        is_request = isinstance(item.message, types.JSONRPCRequest)
        if state is not None and is_request:
            # Set before the send: a send interrupted by cancellation may still have delivered.
            state.written = True
        try:
            await self._inner.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            if state is not None and is_request:
                state.written = False  # the transport was already gone: nothing went out
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _TrackedWriteStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _root_error(exc: BaseException) -> BaseException:
    """The most telling leaf of a (possibly grouped) transport error."""
    leaves = [leaf for leaf in _leaves(exc) if not isinstance(leaf, asyncio.CancelledError)]
    return leaves[0] if leaves else exc


def _error_text(exc: BaseException) -> str:
    """``Type: message`` for logs. An HTTP status error names only its status: its message
    quotes the request URL, whose query may carry a token."""
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"{type(exc).__name__}: HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"


class _Session:
    """One MCP client session, owned by a supervisor task (see the module docstring)."""

    def __init__(self, provider: McpToolProvider) -> None:
        self._provider = provider
        self.client: Client | None = None
        self.error: BaseException | None = None
        self.eof = False
        self._ready = asyncio.Event()  # connected, or failed
        self._done = asyncio.Event()  # stop requested, or the transport ended
        self._stop_requested = False
        self._scope: anyio.CancelScope | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def launch(self) -> asyncio.Task[None]:
        # The session outlives the request that may have started it: none of its context (caller, request id).
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-session:{self._provider.name}", context=contextvars.Context())
        return self._task

    @property
    def alive(self) -> bool:
        return self.client is not None and not self._done.is_set()

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until connected or failed; False if neither happened within ``timeout``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        return self._ready.is_set()

    def request_stop(self) -> None:
        """Ask the supervisor to wind down: gracefully when connected, by cancellation otherwise."""
        self._stop_requested = True
        if self.client is not None:
            self._done.set()
        elif self._scope is not None:
            self._scope.cancel()

    async def stop(self, graceful_timeout: float = _GRACEFUL_CLOSE_S) -> None:
        """Stop the session and wait until its transport (and stdio process) is gone."""
        self.request_stop()
        task = self._task
        if task is None or task.done():
            return
        # asyncio.wait, not ``await task``: a cancelled caller must not cancel the supervisor
        # natively in the middle of the transport's shielded shutdown.
        done, _ = await asyncio.wait({task}, timeout=graceful_timeout)
        if not done:
            if self._scope is not None:
                self._scope.cancel()
            await asyncio.wait({task})

    async def wait_finished(self, timeout: float) -> None:
        """After a transport failure: let the supervisor record why the session ended."""
        if self._task is not None and not self._task.done():
            self._done.set()
            await asyncio.wait({self._task}, timeout=timeout)

    def _on_eof(self) -> None:
        self.eof = True
        self._done.set()

    async def _supervise(self) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._stop_requested:
                    scope.cancel()
                transport = self._watched(self._provider._open_transport())
                async with Client(transport, mode=self._provider.mode, cache=None) as client:
                    self.client = client
                    self._ready.set()
                    await self._done.wait()
        except Exception as exc:  # noqa: BLE001 - recorded for start()/invoke(), which raise ToolFailure
            self.error = exc
        finally:
            self._done.set()
            self._ready.set()

    @contextlib.asynccontextmanager
    async def _watched(self, inner: contextlib.AbstractAsyncContextManager[Any]) -> AsyncIterator[Any]:
        async with inner as (read_stream, write_stream):
            yield _WatchedReadStream(read_stream, self._on_eof), _TrackedWriteStream(write_stream)

    # -- diagnostics -----------------------------------------------------------------------

    def undelivered_failure(self) -> bool:
        """The session died of errors that prove nothing reached the server (no connection)."""
        if self.error is None:
            return False
        leaves = [leaf for leaf in _leaves(self.error) if not isinstance(leaf, asyncio.CancelledError)]
        return bool(leaves) and all(isinstance(leaf, httpx2.ConnectError | httpx2.ConnectTimeout) for leaf in leaves)

    def death_reason(self) -> str:
        if self.error is not None:
            return _error_text(_root_error(self.error))
        if self.eof:
            return "the server closed the connection" + (" (process exited)" if self._provider.command else "")
        return "the session ended"


class McpToolProvider(ToolProvider):
    """The tools of one MCP server (stdio command or streamable-HTTP URL), over one reused session.

    ``sessions_opened`` counts the sessions initialised so far (1 after ``start`` while the
    server stays healthy; +1 per transparent restart).
    """

    def __init__(
        self,
        name: str,
        *,
        command: list[str] | None = None,
        url: str | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        mode: ConnectMode = "auto",
    ) -> None:
        if (command is None) == (url is None):
            raise ValueError(f"MCP server {name!r}: set exactly one of command (stdio) or url (streamable HTTP)")
        if command is not None and (not command or not all(isinstance(part, str) and part for part in command)):
            raise ValueError(f"MCP server {name!r}: command must be a non-empty list of strings")
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"MCP server {name!r}: url must be http:// or https://")
        if mode not in ("auto", "legacy"):
            raise ValueError(f"MCP server {name!r}: mode must be 'auto' or 'legacy'")
        if timeout_s <= 0:
            raise ValueError(f"MCP server {name!r}: timeout_s must be positive")
        self.name = name
        self.command = list(command) if command is not None else None
        self.url = url
        self.cwd = Path(cwd) if cwd is not None else None
        self.env = dict(env) if env is not None else None
        self.timeout_s = float(timeout_s)
        # "auto" probes the 2026 server/discover handshake and falls back to initialize;
        # "legacy" forces the initialize handshake (stateful sessions on streamable HTTP).
        self.mode: ConnectMode = mode
        self.sessions_opened = 0
        self._session: _Session | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # supervisor tasks not finished yet
        self._starting: _Session | None = None
        self._lock = asyncio.Lock()
        self._attempts = 0  # (re)start attempts, to share one failed attempt with queued callers
        self._last_error: ToolFailure | None = None
        self._closed = False

    @classmethod
    def from_config(cls, cfg: McpToolConfig, config_dir: Path) -> McpToolProvider:
        """Build from a ``kind: mcp`` tools.yaml entry; stdio servers run in ``config_dir``."""
        return cls(cfg.name, command=cfg.command, url=cfg.url, cwd=config_dir, env=cfg.env, timeout_s=cfg.timeout_s)

    def __repr__(self) -> str:
        where = f"command={self.command[0]!r}" if self.command else f"url={redact_url(self.url or '')!r}"
        return f"McpToolProvider({self.name!r}, {where}, sessions_opened={self.sessions_opened})"

    # -- ToolProvider ----------------------------------------------------------------------

    async def start(self) -> None:
        await self._live_session()

    async def list_tools(self) -> list[ToolSpec]:
        session = await self._live_session()
        for attempt in (1, 2):
            try:
                tools = await self._list_all(session)
            except MCPError as exc:
                if attempt == 1 and await self._should_retry(session, exc, written=False):
                    session = await self._live_session(replace=session, reason=exc.error.message)
                    continue
                raise self._failure("tools/list", exc) from None
            except TimeoutError:
                raise ToolFailure(f"MCP server {self.name!r}: 'tools/list' timed out after {self.timeout_s:g}s") from None
            except RuntimeError as exc:
                if attempt == 1 and not session.alive:  # the client was torn down under us
                    session = await self._live_session(replace=session, reason="connection closed")
                    continue
                raise ToolFailure(f"MCP server {self.name!r}: 'tools/list' failed: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - e.g. a malformed listing: a tool failure, not a gateway crash
                log.warning("MCP tools/list failed client-side", extra={"fields": {"server": self.name, "error": _error_text(exc)}})
                raise ToolFailure(f"MCP server {self.name!r}: 'tools/list' failed: {type(exc).__name__}") from None
            return [self._spec(tool) for tool in tools]
        raise AssertionError("unreachable")

    async def invoke(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        tool = spec.target or spec.name
        session = await self._live_session()
        for attempt in (1, 2):
            state = _CallState()
            token = _CALL.set(state)
            try:
                if session.client is None:  # died between the liveness check and now
                    raise MCPError(code=CONNECTION_CLOSED, message="Connection closed")
                result = await session.client.call_tool(tool, arguments, read_timeout_seconds=self.timeout_s)
            except MCPError as exc:
                if attempt == 1 and await self._should_retry(session, exc, written=state.written):
                    session = await self._live_session(replace=session, reason=exc.error.message)
                    continue
                raise self._failure(tool, exc) from None
            except RuntimeError as exc:
                if not session.alive and attempt == 1 and not state.written:
                    # The client was torn down under us (session died): nothing was sent.
                    session = await self._live_session(replace=session)
                    continue
                raise ToolFailure(f"MCP tool {tool!r} on server {self.name!r} failed: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - malformed results, transport timeouts...: a tool failure, not a gateway crash
                # The type only: the message may quote the result, which may echo the arguments.
                log.warning("MCP tool call failed client-side", extra={"fields": {"server": self.name, "tool": tool, "error_type": type(exc).__name__}})
                raise ToolFailure(f"MCP tool {tool!r} on server {self.name!r} failed: {type(exc).__name__}") from None
            finally:
                _CALL.reset(token)
            text = _result_text(result)
            if result.is_error:
                raise ToolFailure(text or f"MCP tool {tool!r} on server {self.name!r} reported an error")
            return text
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close the session and stop the server process. Idempotent; later calls fail."""
        self._closed = True
        if self._starting is not None:
            self._starting.request_stop()  # don't wait out a hanging start-up
        async with self._lock:
            session, self._session = self._session, None
        if session is not None:
            await session.stop()
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- sessions --------------------------------------------------------------------------

    async def _live_session(self, *, replace: _Session | None = None, reason: str | None = None) -> _Session:
        """A connected session, (re)opening one if there is none or it died.

        ``replace``: a session the caller saw fail (``reason``); it is restarted even if it
        still looks alive.
        """
        attempts_seen = self._attempts
        async with self._lock:
            if self._closed:
                raise ToolFailure(f"MCP server {self.name!r} is closed")
            current = self._session
            if current is not None and current is not replace and current.alive:
                return current
            if self._attempts != attempts_seen and self._last_error is not None:
                # Another caller (re)started while we queued and that failed: share its failure
                # instead of queuing N start timeouts behind a dead server.
                raise self._last_error
            if current is not None:
                self._session = None
                why = current.death_reason() if not current.alive else (reason or "the session failed")
                await current.stop()
                log.warning("MCP session lost; restarting", extra={"fields": {"server": self.name, "why": why}})
                await asyncio.sleep(RESTART_BACKOFF_S)
            self._attempts += 1
            try:
                session = await self._open()
            except ToolFailure as exc:
                self._last_error = exc
                if current is not None:
                    log.info("MCP restart failed", extra={"fields": {"server": self.name, "problem": str(exc)}})
                raise
            self._last_error = None
            self._session = session
            self.sessions_opened += 1
            return session

    async def _open(self) -> _Session:
        self._check_env()
        session = _Session(self)
        self._track(session.launch())
        self._starting = session
        try:
            ready = await session.wait_ready(self.timeout_s)
        except asyncio.CancelledError:
            session.request_stop()  # winds down in the background; close() waits for it
            raise
        finally:
            self._starting = None
        if ready and session.alive and not self._closed:
            return session
        if not ready:
            # Raise now; the transport winds down (and reaps the process) in the background,
            # and close() waits for it.
            session.request_stop()
            raise ToolFailure(f"MCP server {self.name!r} did not answer within {self.timeout_s:g}s")
        await session.stop()
        if self._closed:
            raise ToolFailure(f"MCP server {self.name!r} is closed")
        raise self._start_failure(session)

    def _track(self, task: asyncio.Task[None]) -> None:
        """Keep every supervisor task referenced until it ends, so close() can wait for all."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # _supervise records ordinary errors; only odd BaseExceptions get here.
            log.warning("MCP session task ended unexpectedly", extra={"fields": {"server": self.name, "error": _error_text(exc)}})

    def _start_failure(self, session: _Session) -> ToolFailure:
        exc = session.error
        if exc is None:
            return ToolFailure(f"MCP server {self.name!r} closed the connection during start-up")
        root = _root_error(exc)
        if isinstance(root, FileNotFoundError) and self.command:
            return ToolFailure(f"MCP server {self.name!r}: command not found: {self.command[0]!r}")
        if isinstance(root, OSError) and self.command:
            return ToolFailure(f"MCP server {self.name!r}: cannot start {self.command[0]!r}: {root.strerror or root}")
        if isinstance(root, httpx2.ConnectError | httpx2.ConnectTimeout):
            log.warning("MCP server unreachable", extra={"fields": {"server": self.name, "url": redact_url(self.url or ""), "error": _error_text(root)}})
            return ToolFailure(f"MCP server {self.name!r} is unreachable")
        if isinstance(root, httpx2.HTTPError):
            log.warning("MCP start-up HTTP error", extra={"fields": {"server": self.name, "url": redact_url(self.url or ""), "error": _error_text(root)}})
            return ToolFailure(f"MCP server {self.name!r}: HTTP error during start-up ({type(root).__name__})")
        if isinstance(root, MCPError):
            if root.error.code == CONNECTION_CLOSED:
                return ToolFailure(f"MCP server {self.name!r} closed the connection during start-up")
            return ToolFailure(f"MCP server {self.name!r} rejected the session: {root.error.message}")
        log.warning("MCP start-up failed", extra={"fields": {"server": self.name, "error": _error_text(root)}})
        return ToolFailure(f"MCP server {self.name!r} failed to start ({type(root).__name__})")

    async def _should_retry(self, session: _Session, exc: MCPError, *, written: bool) -> bool:
        """Is it safe and useful to retry this failure once on a new session?"""
        if self._closed:
            return False
        code = exc.error.code
        if code == CONNECTION_CLOSED:
            await session.wait_finished(self.timeout_s)
            return not written or session.undelivered_failure()
        return self._session_unknown(exc)

    def _session_unknown(self, exc: MCPError) -> bool:
        """A (restarted) streamable-HTTP server answered 404 "session not found": it ran nothing.

        The HTTP status is not visible here; the mcp client reports it as "Session terminated"
        and servers' own bodies say "Session not found" (python and typescript SDKs)."""
        message = exc.error.message.lower()
        return self.url is not None and "session" in message and ("not found" in message or "terminated" in message)

    def _failure(self, what: str, exc: MCPError) -> ToolFailure:
        code = exc.error.code
        if self._session_unknown(exc):
            return ToolFailure(f"MCP server {self.name!r} lost the session during {what!r}")
        if code == REQUEST_TIMEOUT:
            return ToolFailure(f"MCP server {self.name!r}: {what!r} timed out after {self.timeout_s:g}s")
        if code == CONNECTION_CLOSED:
            return ToolFailure(f"MCP server {self.name!r}: connection lost during {what!r}")
        return ToolFailure(f"MCP server {self.name!r}: {what!r} failed: {exc.error.message}")

    # -- transport -------------------------------------------------------------------------

    def _check_env(self) -> None:
        if self.command is None:
            return
        for key, value in (self.env or {}).items():
            if isinstance(value, str) and value.startswith(_ENV_REF) and value[len(_ENV_REF) :] not in os.environ:
                raise ToolFailure(f"MCP server {self.name!r}: environment variable {value[len(_ENV_REF) :]} (for {key}) is not set")

    def _server_env(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in _EXTRA_INHERITED_ENV if key in os.environ}
        for key, value in (self.env or {}).items():
            text = str(value)
            env[key] = os.environ[text[len(_ENV_REF) :]] if text.startswith(_ENV_REF) else text
        return env

    def _open_transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.url is not None:
            return streamable_http_client(self.url)
        assert self.command is not None
        executable, *args = self.command
        if executable in ("python", "python3"):
            executable = sys.executable  # the gateway's interpreter (and venv), not whatever PATH finds
        params = StdioServerParameters(command=executable, args=args, env=self._server_env(), cwd=self.cwd)
        return stdio_client(params, errlog=sys.stderr)

    # -- listing ---------------------------------------------------------------------------

    async def _list_all(self, session: _Session) -> list[types.Tool]:
        if session.client is None:
            raise MCPError(code=CONNECTION_CLOSED, message="Connection closed")
        tools: list[types.Tool] = []
        cursor: str | None = None
        with anyio.fail_after(self.timeout_s):
            for _ in range(_MAX_LIST_PAGES):
                page = await session.client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
        return tools

    def _spec(self, tool: types.Tool) -> ToolSpec:
        parameters = dict(tool.input_schema or {})
        parameters["type"] = "object"
        parameters.setdefault("properties", {})
        return ToolSpec(
            name=f"{self.name}_{tool.name}",
            description=tool.description or "",
            parameters=parameters,
            kind="mcp",
            target=tool.name,
            extra={"mcp_server": self.name},
        )


def _result_text(result: types.CallToolResult) -> str:
    """Tool output as text: the text contents, else the structured content as JSON."""
    texts = [item.text for item in result.content if isinstance(item, types.TextContent)]
    if texts:
        return "\n".join(texts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, types.EmbeddedResource):
            resource = item.resource
            if isinstance(resource, types.TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(f"[resource {resource.uri} ({resource.mime_type or 'binary'})]")
        elif isinstance(item, types.ResourceLink):
            parts.append(f"[resource link {item.uri}]")
        elif isinstance(item, types.ImageContent | types.AudioContent):
            parts.append(f"[{item.type} {item.mime_type}]")
    return "\n".join(parts)
