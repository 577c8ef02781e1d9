"""The test MCP server (``tests/mcp_servers/calc_server.py``) serving streamable HTTP in a subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["CALC", "HttpCalc"]

CALC = Path(__file__).parent / "mcp_servers" / "calc_server.py"


def _reuseport_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


class HttpCalc:
    """calc_server.py serving streamable HTTP on a loopback port, in a subprocess.

    The port is held for the object's life by a socket that is bound (SO_REUSEPORT) but never
    listens: while the server is stopped, connections are refused and no other process (another
    pytest-xdist worker, say) can take the port, so ``start()`` after ``stop()`` serves the same
    URL again. Each start binds a listening socket to that port and hands it to the server."""

    def __init__(self) -> None:
        self._reservation = _reuseport_socket()
        self._reservation.bind(("127.0.0.1", 0))
        self.port = int(self._reservation.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HttpCalc:
        with _reuseport_socket() as listener:
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            fd = listener.fileno()
            self.proc = subprocess.Popen([sys.executable, str(CALC), "--http-fd", str(fd)], pass_fds=[fd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The socket listens already; wait until the server answers HTTP on it.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"calc_server exited with {self.proc.returncode}")
            try:
                httpx.get(self.url, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("calc_server did not start serving")

    def stop(self) -> None:
        """Stop the server process; the port stays reserved for a later start()."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Stop the server and give the port up."""
        self.stop()
        self._reservation.close()
