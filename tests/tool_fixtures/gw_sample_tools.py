"""Python tool targets for tests/test_tools_catalog.py (the config dir is importable)."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from pydantic import BaseModel


class Ticket(BaseModel):
    id: str
    status: str
    history: list[str]


def lookup_ticket(ticket_id: str, include_history: bool = False, priority: Literal["low", "high"] = "low") -> Ticket:
    """Look up a support ticket by id.

    Args:
        ticket_id: The ticket identifier, like "T-1".
        include_history: Whether to include the change history.
        priority: Which queue to search.
    """
    return Ticket(id=ticket_id, status=f"open/{priority}", history=["created"] if include_history else [])


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def slow_sync(seconds: float) -> str:
    """Block the calling thread (a sync tool must run off the event loop)."""
    time.sleep(seconds)
    return "slept"


async def fast_async(word: str) -> dict[str, object]:
    """Echo a word from a coroutine."""
    await asyncio.sleep(0)
    return {"word": word, "length": len(word)}


async def hang() -> str:
    """Never finishes in time."""
    await asyncio.sleep(30)
    return "too late"


def boom(message: str) -> str:
    """Always raises."""
    raise ValueError(message)


def shout(text: str) -> str:
    """Plain string output is returned as-is."""
    return text.upper() + "!"


class _Unrenderable:
    """Not JSON-serialisable, and ``str()`` raises: the provider cannot turn it into text."""

    def __str__(self) -> str:
        raise KeyError("internal detail")


def unrenderable() -> object:
    """Returns a value that cannot be rendered as tool output."""
    return _Unrenderable()
