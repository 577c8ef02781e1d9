"""Per-agent thread pools for the sync code of drop-in agents.

The SDK runs sync function tools with ``asyncio.to_thread``, i.e. on the event loop's default
executor, one small pool shared by every agent: seven sleeping tools of one agent stalled the
sync tools of all others. ``asyncio.to_thread`` calls ``loop.run_in_executor(None, ...)`` and
that calls ``executor.submit`` synchronously, from the task that asked, so the default
executor installed here can read that task's context variables and send the work to the pool
of the agent whose run it is (``serving_agent``). Work submitted outside any run goes to the
ordinary shared pool, as before.

A pool holds ``threads`` threads; calls beyond that wait in its queue (a run's own deadline
bounds the wait, and a cancelled wait never runs). A new request is refused with
``AGENT_BUSY`` while the pool already holds ``threads + queue`` calls: one agent exhausting
its pool affects only itself. A call that is already running cannot be stopped (Python
threads cannot be killed); it keeps its thread until it returns, which is why the pool is per
agent.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from services.errors import GatewayError

__all__ = [
    "DEFAULT_QUEUE",
    "DEFAULT_THREADS",
    "GuestPool",
    "RoutingExecutor",
    "agent_busy",
    "current_pool",
    "install_routing_executor",
    "serving_agent",
]

T = TypeVar("T")

DEFAULT_THREADS = 8
DEFAULT_QUEUE = 32

_CURRENT: contextvars.ContextVar[GuestPool | None] = contextvars.ContextVar("agentgateway_guest_pool", default=None)


class GuestPool:
    """One agent's threads, with a count of the calls it holds (running or waiting)."""

    def __init__(self, agent_id: str, threads: int = DEFAULT_THREADS, queue: int = DEFAULT_QUEUE) -> None:
        self.agent_id = agent_id
        self.threads = threads
        self.queue = queue
        # Threads start on demand: an agent with no sync code never costs one.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"guest {agent_id}")
        self._lock = threading.Lock()
        self._held = 0

    @property
    def held(self) -> int:
        """Calls running or waiting for a thread (cancelled waits no longer count)."""
        return self._held

    @property
    def full(self) -> bool:
        return self._held >= self.threads + self.queue

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = self._pool.submit(fn, *args, **kwargs)
        with self._lock:
            self._held += 1
        future.add_done_callback(self._release)  # also called when a waiting call is cancelled
        return future

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._held -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def agent_busy(pool: GuestPool) -> GatewayError:
    return GatewayError(
        "UNAVAILABLE",
        "AGENT_BUSY",
        f"agent {pool.agent_id!r} is busy: all {pool.threads} of its threads are taken and {pool.queue} calls already wait; retry shortly",
        {"model": pool.agent_id},
        retry_after_s=1.0,
    )


def current_pool() -> GuestPool | None:
    """The pool of the agent whose run this is (None outside a drop-in's run)."""
    return _CURRENT.get()


def serving_agent(pool: GuestPool) -> None:
    """For the rest of the current task (a run's own task): ``asyncio.to_thread`` and
    ``run_in_executor(None, ...)`` use ``pool``. Tasks created from here on (the SDK's tool
    tasks) inherit it with the rest of the context."""
    _CURRENT.set(pool)


class RoutingExecutor(ThreadPoolExecutor):
    """The loop's default executor: the current agent's pool inside a run, itself elsewhere.

    A ``ThreadPoolExecutor`` because ``loop.set_default_executor`` accepts nothing else.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        pool = _CURRENT.get()
        if pool is not None:
            return pool.submit(fn, *args, **kwargs)
        return super().submit(fn, *args, **kwargs)


def install_routing_executor(loop: asyncio.AbstractEventLoop | None = None) -> RoutingExecutor:
    loop = loop or asyncio.get_running_loop()
    executor = RoutingExecutor(thread_name_prefix="asyncio")
    loop.set_default_executor(executor)
    return executor
