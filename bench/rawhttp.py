"""A lean HTTP/1.1 client for the load generator: ``POST`` a JSON body on a kept-alive
connection and read the reply, an SSE stream or a JSON document, incrementally.

httpx spends far more CPU per SSE chunk than the servers it measures (through the httpcore,
h11 and anyio layers), so with it the client, not the path, set the time to first token. This
is an ``asyncio.Protocol`` instead: ``data_received`` parses the status line and headers, the
chunked (or ``content-length``, or read-to-close) body and the ``data:`` lines of the event
stream as bytes arrive, and stamps ``perf_counter()`` on the first non-empty content delta
right there, with no task switch between the socket read and the timestamp.

Plain ``http://`` only; no redirects, no compression (none is asked for), no proxies. A
reused connection the server closed while it sat idle is retried once on a fresh one, as
httpx does; any other failure raises. A connection is returned to its pool only after a
complete reply on a keep-alive connection, so a cancelled or failed request never leaves a
half-read socket behind.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with the gateway's dependencies
    from json import loads as _loads  # type: ignore[assignment]

__all__ = ["HTTPError", "Pool", "Reply", "ResponsesStreamReply", "StreamReply", "UnaryReply"]

_MAX_HEAD = 64 * 1024


class HTTPError(RuntimeError):
    """A reply that is not HTTP/1.x or breaks its own framing."""


class Reply:
    """What one request read: the status, and the body (an error's, or a unary reply's).
    Subclasses decide what a 200 body means."""

    def __init__(self) -> None:
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.body = bytearray()  # kept for error statuses and unary replies
        self.keep_alive = True
        self.streaming = False  # a 200 whose body goes to on_body, not self.body

    def on_head(self) -> None:
        """Called once the headers are in; decides ``streaming``."""

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_end(self) -> None:
        """The body ended cleanly."""


class StreamReply(Reply):
    """An OpenAI chat completion stream: ``data:`` events with ``choices[0].delta.content``.
    ``first`` is the ``perf_counter()`` of the first non-empty content delta."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.on_first = on_first  # called once, with the first content delta
        self.first: float | None = None
        self.parts: list[str] = []
        self.error: str = ""  # the first in-band error event, if any
        self.done = False  # saw ``data: [DONE]``
        self._line = bytearray()
        self._data: list[bytes] = []

    def on_head(self) -> None:
        self.streaming = self.status == 200 and self.headers.get("content-type", "").startswith("text/event-stream")

    def on_body(self, data: bytes) -> None:
        if not self.streaming:
            self.body += data
            return
        line = self._line
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                line += data[start:]
                return
            line += data[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                del line[-1:]
            if not line:  # a blank line ends an event
                if self._data:
                    self._event(b"\n".join(self._data))
                    self._data.clear()
            elif line.startswith(b"data:"):
                value = bytes(line[5:])
                self._data.append(value[1:] if value.startswith(b" ") else value)
            line.clear()  # comments (":"), "event:", "id:" and "retry:" lines are ignored

    def on_end(self) -> None:
        if self.streaming and self._data:  # a last event without its blank line
            self._event(b"\n".join(self._data))
            self._data.clear()

    def _event(self, data: bytes) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        try:
            chunk = _loads(data)
        except ValueError:
            self.error = self.error or f"not JSON: {data[:200]!r}"
            return
        if not isinstance(chunk, dict):
            self.error = self.error or f"not a JSON object: {data[:200]!r}"
            return
        if "error" in chunk:
            self.error = self.error or f"stream error: {chunk['error']}"
            return
        choices = chunk.get("choices") or ()
        content = choices[0].get("delta", {}).get("content") if choices else None
        if content:
            if self.first is None:
                self.first = time.perf_counter()
                if self.on_first is not None:
                    self.on_first()
            self.parts.append(content)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ResponsesStreamReply(StreamReply):
    """An Open Responses event stream: content from ``response.output_text.delta`` events;
    ``done`` once ``response.completed`` arrived."""

    def _event(self, data: bytes) -> None:
        try:
            event = _loads(data)
        except ValueError:
            self.error = self.error or f"not JSON: {data[:200]!r}"
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "response.output_text.delta":
            if self.first is None:
                self.first = time.perf_counter()
                if self.on_first is not None:
                    self.on_first()
            self.parts.append(event["delta"])
        elif kind == "response.completed":
            self.done = True
        elif kind in ("response.failed", "error"):
            self.error = self.error or f"stream error: {str(event)[:200]}"


class UnaryReply(Reply):
    """A JSON reply, kept whole in ``body``."""

    def json(self) -> Any:
        return _loads(bytes(self.body))


# Body framing states.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _TO_CLOSE, _DONE = range(8)


class _Connection(asyncio.Protocol):
    """One TCP connection; parses one reply at a time into ``reply``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False  # has carried a reply before: its server may have closed it since
        self.reply: Reply | None = None
        self.finished: asyncio.Future[None] | None = None
        self.received = False  # any byte of the current reply
        self._buf = bytearray()
        self._state = _DONE
        self._left = 0

    # asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.reply is None or self._state == _DONE:  # bytes nobody asked for
            self._fail(HTTPError(f"unexpected {len(data)} bytes between replies"))
            return
        self.received = True
        try:
            self._feed(data)
        except Exception as exc:  # noqa: BLE001 - a broken reply fails its request
            self._fail(exc)

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.reply is None or self._state == _DONE:
            return
        if self._state == _TO_CLOSE:
            self._finish()
        else:
            self._fail(ConnectionResetError(f"connection closed mid-reply ({exc or 'EOF'})"))

    # one request ----------------------------------------------------------------------

    def start(self, reply: Reply, request: bytes) -> asyncio.Future[None]:
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            raise ConnectionResetError("connection already closed")
        self.reply, self.received = reply, False
        self.finished = asyncio.get_running_loop().create_future()
        self._buf.clear()
        self._state = _HEAD
        self.transport.write(request)
        return self.finished

    def _finish(self) -> None:
        assert self.reply is not None
        self._state = _DONE
        self.reply.on_end()
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._state = _DONE
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self.finished is not None and not self.finished.done():
            self.finished.set_exception(exc)

    def abort(self) -> None:
        self.closed = True
        self._state = _DONE
        if self.transport is not None:
            self.transport.abort()

    # parsing ---------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        reply = self.reply
        assert reply is not None
        if self._state == _HEAD:
            self._buf += data
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    raise HTTPError("reply head too long")
                return
            self._head(bytes(self._buf[:end]))
            data = bytes(self._buf[end + 4 :])
            self._buf.clear()
            if self._state == _DONE:
                self._finish()
                if data:
                    raise HTTPError(f"{len(data)} bytes after a reply without a body")
                return
        self._body(data)

    def _head(self, head: bytes) -> None:
        reply = self.reply
        assert reply is not None
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise HTTPError(f"not an HTTP/1.x reply: {lines[0][:100]!r}")
        code, _, reply.reason = rest.partition(" ")
        reply.status = int(code)
        for line in lines[1:]:
            name, _, value = line.partition(":")
            reply.headers[name.strip().lower()] = value.strip()
        connection = reply.headers.get("connection", "").lower()
        reply.keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        if 100 <= reply.status < 200:
            raise HTTPError(f"interim reply {reply.status} not supported")
        reply.on_head()
        if "chunked" in reply.headers.get("transfer-encoding", "").lower():
            self._state = _CHUNK_SIZE
        elif "content-length" in reply.headers:
            self._left = int(reply.headers["content-length"])
            self._state = _LENGTH if self._left else _DONE
        elif reply.status in (204, 304):
            self._state = _DONE
        else:
            reply.keep_alive = False
            self._state = _TO_CLOSE

    def _body(self, data: bytes) -> None:
        reply = self.reply
        assert reply is not None
        buf = self._buf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        pos, size = 0, len(data)
        while pos < size or self._state == _DONE:
            state = self._state
            if state == _DONE:
                if pos < size:
                    raise HTTPError(f"{size - pos} bytes after the end of the reply")
                self._finish()
                return
            if state in (_LENGTH, _CHUNK_DATA):
                take = min(self._left, size - pos)
                reply.on_body(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _DONE if state == _LENGTH else _CHUNK_END
            elif state == _TO_CLOSE:
                reply.on_body(data[pos:])
                return
            else:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    buf += data[pos:]
                    if len(buf) > _MAX_HEAD:
                        raise HTTPError("chunk framing line too long")
                    return
                line = data[pos:end]
                pos = end + 2
                if state == _CHUNK_SIZE:
                    self._left = int(line.split(b";", 1)[0].strip(), 16)
                    self._state = _CHUNK_DATA if self._left else _TRAILERS
                elif state == _CHUNK_END:
                    if line:
                        raise HTTPError("chunk not followed by CRLF")
                    self._state = _CHUNK_SIZE
                elif not line:  # _TRAILERS: a blank line ends them
                    self._state = _DONE


class Pool:
    """Kept-alive connections to one ``http://host:port``; as many as are used at once."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, *, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// URLs are supported, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        host = self.host if self.port == 80 else f"{self.host}:{self.port}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._fixed = f"Host: {host}\r\nUser-Agent: bench-rawhttp\r\nAccept-Encoding: identity\r\n{extra}"
        self._idle: deque[_Connection] = deque()
        self._all: set[_Connection] = set()

    def request(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
        """The bytes of one ``POST`` (built once per job, sent as they are every time)."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"POST {self.prefix}{path} HTTP/1.1\r\n{self._fixed}{extra}Content-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to be timed out
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            self._all.discard(conn)
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        self._all.add(conn)
        return conn

    async def send(self, request: bytes, reply_factory: Callable[[], Reply]) -> Reply:
        """Send one request; the reply once its body has been read (any status)."""
        async with asyncio.timeout(self.timeout):
            for attempt in (1, 2):
                conn = await self._connection()
                reused = conn.used
                reply = reply_factory()
                ok = False
                try:
                    await conn.start(reply, request)
                    ok = True
                except (ConnectionError, HTTPError) as exc:
                    # A kept-alive connection the server had closed before our request reached
                    # it: nothing was received, so sending again on a new one is safe.
                    if not (reused and not conn.received and attempt == 1 and not isinstance(exc, HTTPError)):
                        raise
                finally:
                    if ok and reply.keep_alive and not conn.closed:
                        conn.used = True
                        conn.reply = None
                        self._idle.append(conn)
                    else:
                        conn.abort()
                        self._all.discard(conn)
                if ok:
                    return reply
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self._all:
            conn.abort()
        self._all.clear()
        self._idle.clear()
