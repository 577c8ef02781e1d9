"""The optional fast path, ``pip install 'agent-gateway[fast]'``: uvloop runs the event loop
and httptools parses HTTP for uvicorn. ``make run`` and ``make test`` install it.

Both are detected at start-up, never required: without them the gateway runs on asyncio's own
loop and uvicorn's pure-Python h11 parser, with the same behaviour (the start-up log line names
which are in use, ``loop`` and ``http_parser``).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EventLoop", "HttpParser", "http_parser", "loop_name", "run"]

T = TypeVar("T")
HttpParser = Literal["httptools", "h11"]


def _import(module: str) -> Any:
    """The module, or None when it is not installed (or its install is broken)."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
        return importlib.import_module(module)
    except (ImportError, ValueError):
        return None


EventLoop = Literal["asyncio", "uvloop"]


def _loop_factory(wanted: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    uvloop = _import("uvloop") if wanted == "uvloop" else None
    return None if uvloop is None else uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], loop: EventLoop = "asyncio") -> T:
    """``asyncio.run``, on uvloop when asked for (``GATEWAY_EVENT_LOOP=uvloop``) and installed.

    asyncio's own loop is the default: under uvloop 0.23 a stdio MCP server restarted by a
    tools refresh sometimes closed its pipes during start-up (tests/test_e2e_tools.py, about one
    run in four); until that is understood, uvloop is opt-in."""
    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        return runner.run(main)


def loop_name() -> str:
    """What runs the current event loop: ``uvloop`` or ``asyncio``."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


def http_parser() -> HttpParser:
    """uvicorn's ``http=`` choice: httptools when it imports, else h11."""
    return "h11" if _import("httptools") is None else "httptools"
