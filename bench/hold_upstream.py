"""The upstream of the idle-streams phase: the demo model, except that each stream is held
after its first content chunk until the bench releases them all.

    python -m bench.hold_upstream --port 8123

A streamed chat completion sends its role chunk and its first content chunk at once, then
waits; ``POST /bench/release`` lets every held stream (and every later one) send the rest at
once. So the bench opens its streams, measures memory while all of them are open and idle
for as long as it chooses, and ends them together, instead of sleeping through fixed
pauses between chunks sized for the slowest start-up. Replies are the demo model's
(`services.demo_model.demo_reply`, the same wire builders); unary requests are answered at
once, and ``POST /bench/hold`` holds later streams again. ``GET /bench/held`` says how many
streams are waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.demo_model import bind_socket, demo_reply, server_config
from services.demo_wire import CHAT_API, Frame, models_response, not_found_response, parse_json, sse_response

__all__ = ["create_app", "main"]


def create_app() -> Starlette:
    ids = itertools.count(1)
    released = asyncio.Event()
    held = 0

    async def frames(built: list[Frame]) -> AsyncIterator[str]:
        nonlocal held
        content_sent = False
        for index, frame in enumerate(built):
            if content_sent and not released.is_set():
                held += 1
                try:
                    await released.wait()
                finally:
                    held -= 1
            yield frame.text
            content_sent = content_sent or index > 0  # frame 0 is the role chunk

    async def chat(request: Request) -> Response:
        raw = await request.body()
        body = parse_json(raw)
        error = CHAT_API.body_error(raw, body)
        if error is not None:
            return error
        built = CHAT_API.build(body, demo_reply(CHAT_API.chat_view(body)), f"{CHAT_API.id_prefix}hold{next(ids)}", True)
        return sse_response(built.id, frames(built.frames())) if body.get("stream") is True else built.unary()

    async def release(request: Request) -> Response:
        released.set()
        return JSONResponse({"released": True})

    async def hold(request: Request) -> Response:
        released.clear()  # streams from now on are held again (after the bench's warm-up)
        return JSONResponse({"released": False})

    async def count(request: Request) -> Response:
        return JSONResponse({"held": held, "released": released.is_set()})

    async def models(request: Request) -> Response:
        return models_response(("demo",), "agent-gateway-bench")

    async def not_found(request: Request) -> Response:
        return not_found_response(request.method, request.url.path)

    return Starlette(
        routes=[
            Route(CHAT_API.path, chat, methods=["POST"]),
            Route("/bench/release", release, methods=["POST"]),
            Route("/bench/hold", hold, methods=["POST"]),
            Route("/bench/held", count, methods=["GET", "POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.hold_upstream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = uvicorn.Server(server_config(create_app()))
    server.run(sockets=[bind_socket(args.host, args.port)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
