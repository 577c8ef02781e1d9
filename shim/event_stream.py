"""``EventStream``: a ``text/event-stream`` response that ends when the client leaves.

Starlette's ``StreamingResponse`` does this too, but for servers that declare ASGI spec 2.3
(uvicorn does) it watches for the disconnect through an anyio task group: ~80 µs of CPU per
stream against ~4 µs without one (measured on this project's bench machine), and a task group
held for as long as the stream lasts. Here one plain asyncio task reads ``receive`` and, if
the client goes away, cancels the task writing the stream, as Starlette's does; the body's
generator is closed either way, so what it holds (the executor call) is released at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["EventStream"]


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None], headers: Mapping[str, str] | None = None) -> None:
        self.status_code = 200
        self.background = None
        self._events = events
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = asyncio.current_task()
        assert writer is not None
        left = False
        finished = False

        async def watch() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
                left = True
                writer.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for event in self._events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left:
                raise
            writer.uncancel()  # our own cancel: the client left, and the response is over
        finally:
            finished = True
            watcher.cancel()
            await self._events.aclose()
