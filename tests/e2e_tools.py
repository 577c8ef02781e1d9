"""Local Python tools for the end-to-end gateway (copied into its config dir as ``e2e_tools.py``)."""

import asyncio
import time


def lookup_ticket(ticket_id: int) -> dict:
    """Look up a support ticket.

    Args:
        ticket_id: The ticket number.
    """
    return {"id": ticket_id, "status": "open", "title": f"Ticket {ticket_id}"}


def explode(reason: str) -> str:
    """Always fails.

    Args:
        reason: Why.
    """
    raise RuntimeError(f"exploded: {reason}")


async def sleepy(seconds: float) -> str:
    """Sleeps asynchronously (longer than its timeout in tests).

    Args:
        seconds: How long.
    """
    await asyncio.sleep(seconds)
    return "woke up"


def blocking(seconds: float) -> str:
    """Blocks its thread with synchronous sleep.

    Args:
        seconds: How long.
    """
    time.sleep(seconds)
    return f"blocked {seconds}s"
