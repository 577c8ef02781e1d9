"""A small MCP server for the MCP tool-provider tests.

Run as a stdio server (default) or as a streamable-HTTP server::

    python calc_server.py                    # stdio
    python calc_server.py --http 9000        # http://127.0.0.1:9000/mcp
    python calc_server.py --http-fd 3        # streamable HTTP on an inherited listening socket

Instrumentation for the tests:
- ``stats()`` reports how many handshakes (``initialize`` / ``server/discover``) this process
  has answered, its pid and how many tool calls it ran;
- if ``CALC_SERVER_STARTS_FILE`` is set, every process start appends its pid to that file
  (for stdio, one process start is one session).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

HANDSHAKE_METHODS = ("initialize", "server/discover")
_counts: dict[str, int] = {"initialize": 0, "server/discover": 0, "tools/call": 0}


async def _count_methods(ctx: Any, call_next: Any) -> Any:
    if ctx.request_id is not None and ctx.method in _counts:
        _counts[ctx.method] += 1
    return await call_next(ctx)


mcp = MCPServer("calc", middleware=[_count_methods])


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
def fail() -> str:
    """Always fails."""
    raise ToolError("calc exploded on purpose")


@mcp.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@mcp.tool()
def crash() -> str:
    """Kill the server process (tests restarts)."""
    sys.stdout.flush()
    os._exit(3)


@mcp.tool()
def env(name: str) -> str:
    """The value of an environment variable in the server process ("<unset>" if missing)."""
    return os.environ.get(name, "<unset>")


@mcp.tool()
def point(x: int, y: int) -> dict[str, int]:
    """A structured result."""
    return {"x": x, "y": y}


@mcp.tool()
def stats() -> str:
    """Handshakes answered and tool calls run by this server process."""
    return json.dumps(
        {
            "pid": os.getpid(),
            "handshakes": sum(_counts[m] for m in HANDSHAKE_METHODS),
            "initialize": _counts["initialize"],
            "discover": _counts["server/discover"],
            "calls": _counts["tools/call"],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio")
    parser.add_argument("--http-fd", type=int, metavar="FD", help="serve streamable HTTP (/mcp) on this inherited listening socket")
    args = parser.parse_args()
    starts_file = os.environ.get("CALC_SERVER_STARTS_FILE")
    if starts_file:
        with open(starts_file, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    if args.http_fd is not None:
        # The test harness binds the socket and hands it over (tests/mcp_http.py): the port
        # is this server's from the start, with no window for another process to take it.
        import uvicorn

        config = uvicorn.Config(mcp.streamable_http_app(host="127.0.0.1"), log_level="warning")
        asyncio.run(uvicorn.Server(config).serve(sockets=[socket.socket(fileno=args.http_fd)]))
    elif args.http:
        mcp.settings.log_level = "WARNING"
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        mcp.run("stdio")


if __name__ == "__main__":
    main()
