"""Listening sockets, with the one-line "cannot bind" errors the CLI prints (exit 1).

With several workers (services/supervisor.py) every worker opens its own listener on the same
port with ``SO_REUSEPORT``, so the kernel spreads connections over them. The supervisor first
*reserves* each port: it checks that nobody else holds it (an ordinary bind, which fails
whatever the other holder's options), then keeps a bound, never-listening ``SO_REUSEPORT``
socket there for as long as it runs. The reservation receives no connections (only listening
sockets do) but keeps the port ours while a worker restarts, and lets the port be
resolved once (``0``: any free port) for all workers.
"""

from __future__ import annotations

import socket

__all__ = ["bind_http", "cannot_bind", "reserve_port"]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def cannot_bind(what: str, host: str, port: int, exc: OSError | str) -> OSError:
    reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
    return OSError(f"cannot bind {what} to {host}:{port} ({reason})")


def bind_http(host: str, port: int, *, reuse_port: bool = False, what: str = "HTTP") -> socket.socket:
    """The HTTP shim's listener (uvicorn serves on it), or the metrics port's (``what``)."""
    try:
        sock = socket.create_server((host, port), family=_family(host), backlog=2048, reuse_port=reuse_port)
    except OSError as exc:
        raise cannot_bind(what, host, port, exc) from None
    # Accepted connections inherit it (Linux). asyncio turns TCP_NODELAY on only for sockets
    # created with IPPROTO_TCP, which create_server's are not; without it, uvicorn writing a
    # response's head and body separately lets Nagle hold the body for the client's delayed
    # ACK (~40 ms on every keep-alive request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def reserve_port(what: str, host: str, port: int) -> socket.socket:
    """A bound, not listening, ``SO_REUSEPORT`` socket on ``host:port``, after checking that no
    other socket holds the port. ``getsockname()`` tells the port when ``port`` is 0."""
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR as uvicorn's and gRPC's own listeners set it: a previous run's
            # TIME_WAIT connections do not count as "in use", a listener does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
        reservation = socket.socket(_family(host), socket.SOCK_STREAM)
        try:
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reservation.bind((host, port))
        except OSError:
            reservation.close()
            raise
    except OSError as exc:
        raise cannot_bind(what, host, port, exc) from None
    return reservation
