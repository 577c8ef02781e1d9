"""The optional fast path, ``pip install 'agent-gateway[fast]'``: uvloop runs the event loop
and httptools parses HTTP for uvicorn. ``make run`` and ``make test`` install it.

Both are detected at start-up, never required: without them the gateway runs on asyncio's own
loop and uvicorn's pure-Python h11 parser, with the same behaviour (the start-up log line names
which are in use, ``loop`` and ``http_parser``).

uvloop and gRPC's fork handlers
-------------------------------
uvloop starts child processes (stdio MCP servers, anything agent code spawns) with libuv's
``uv_spawn``: a plain ``fork()``, then ``exec()``. ``fork()`` runs every ``pthread_atfork``
handler, and gRPC core's child handler restarts gRPC's threads in the new process. When the
fork happens while gRPC is busy (RefreshTools starting a stdio MCP server from inside the
call), such a thread sometimes crashes the child with SIGSEGV before it reaches ``exec()``:
the server "closed the connection during start-up" (core dump: the child's main thread in
gRPC's post-fork handler under ``uv_spawn``, a restarted gRPC thread faulting on NULL). With
grpcio 1.85 that was about 2 spawns in 100 (tests/uvloop_spawn_probe.py) and one run in four
of tests/test_e2e_tools.py's refresh test. CPython's subprocess, which asyncio's loop uses,
spawns with ``vfork()`` and runs no fork handlers, so asyncio never showed it. gRPC tracks
this as grpc/grpc#43055 (child post-fork handlers start threads in a child about to exec).

The gateway never forks to keep running Python in the child (``--workers`` spawns fresh
interpreters), so it needs none of gRPC's fork support: before a uvloop loop starts, ``run``
sets ``GRPC_ENABLE_FORK_SUPPORT=false``, unless the environment already sets it. gRPC reads it
when it is imported, so that must come after ``run``: the CLI imports gRPC only inside the
coroutine it runs (``run`` logs a warning when gRPC was imported first).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from services.log import get_logger

__all__ = ["EventLoop", "HttpParser", "http_parser", "loop_name", "run"]

T = TypeVar("T")
HttpParser = Literal["httptools", "h11"]
# "auto": uvloop when it is installed, else asyncio's own loop. "uvloop" asks for uvloop and,
# like "auto", falls back to asyncio when it is missing; "asyncio" never uses uvloop.
EventLoop = Literal["auto", "asyncio", "uvloop"]

_GRPC_FORK_SUPPORT = "GRPC_ENABLE_FORK_SUPPORT"


def _import(module: str) -> Any:
    """The module, or None when it is not installed (or its install is broken)."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
        return importlib.import_module(module)
    except (ImportError, ValueError):
        return None


def _loop_factory(wanted: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    uvloop = None if wanted == "asyncio" else _import("uvloop")
    return None if uvloop is None else uvloop.new_event_loop


def _without_grpc_fork_handlers() -> None:
    """Before a uvloop loop starts: keep gRPC's fork handlers out of uvloop's ``fork()`` (see
    the module docstring)."""
    if _GRPC_FORK_SUPPORT in os.environ:
        return
    os.environ[_GRPC_FORK_SUPPORT] = "false"
    if "grpc" in sys.modules:
        # Only an embedding that imported gRPC before choosing the loop gets here (tests do).
        get_logger("fast_path").warning(
            "gRPC imported before the event loop was chosen",
            extra={"fields": {"loop": "uvloop", "problem": f"{_GRPC_FORK_SUPPORT}=false comes too late; set it in the environment"}},
        )


def run(main: Coroutine[Any, Any, T], loop: EventLoop = "auto") -> T:
    """``asyncio.run``, on uvloop unless ``loop`` is ``"asyncio"`` or uvloop is not installed
    (``GATEWAY_EVENT_LOOP``). On uvloop, gRPC's fork support is turned off first."""
    factory = _loop_factory(loop)
    if factory is not None:
        _without_grpc_fork_handlers()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_name() -> str:
    """What runs the current event loop: ``uvloop`` or ``asyncio``."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


def http_parser() -> HttpParser:
    """uvicorn's ``http=`` choice: httptools when it imports, else h11."""
    return "h11" if _import("httptools") is None else "httptools"
