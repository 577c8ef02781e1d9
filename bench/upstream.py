"""The fake upstream as the benchmark runs it.

``tests.fake_upstream.FakeUpstream.start()`` binds its own socket with
``socket.socket(AF_INET, SOCK_STREAM)``, i.e. ``proto == 0``. asyncio only enables
``TCP_NODELAY`` on sockets whose ``proto`` is ``IPPROTO_TCP``, so the accepted connections
keep Nagle's algorithm on. Starlette/uvicorn write the response head and body (or each SSE
event) separately, and Nagle holds the second write until the client's delayed ACK: every
upstream response then takes ~40 ms on loopback instead of ~1.5 ms, which would drown the
gateway overhead this benchmark is meant to see. Linux copies ``TCP_NODELAY`` from the
listening socket to accepted ones, so setting it on the listener fixes all connections.
"""

from __future__ import annotations

import socket

import uvicorn

from tests.fake_upstream import FakeUpstream

__all__ = ["BenchUpstream"]


class BenchUpstream(FakeUpstream):
    """``FakeUpstream`` with ``TCP_NODELAY`` on its connections (see the module docstring)."""

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super()._run(server, sock)
