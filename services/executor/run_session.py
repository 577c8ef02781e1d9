"""A stored conversation as the Agents SDK's own ``Session``, for one run of a drop-in agent.

A Responses request that continues something (``previous_response_id`` or ``conversation``)
runs a drop-in agent the way the SDK runs an agent with memory: ``Runner.run(agent, new_turn,
session=...)``. The SDK reads the history from the session, puts the new turn after it, and
writes back what the turn added — its input, then every item the run produced: messages, the
calls of the agent's own tools and their outputs, handoffs, reasoning. Those produced items
are what the gateway keeps as the response's history, so the next turn's agent sees the tools
it ran, exactly as it would with ``SQLiteSession`` in a script.

The session lives for one run and keeps nothing itself: the conversation store is the memory
(``ResponseRunner`` reads it into the session before the run and stores ``produced()`` after).
The history before the turn is read-only: ``pop_item`` (the SDK's rewind of a retried turn)
takes back only what this turn added, and ``clear_session`` forgets the turn's additions and
the in-memory view — deleting stored history is ``DELETE /v1/conversations/{id}``.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from agentgateway.v1 import responses_pb2 as rpb
from services.errors import GatewayError
from services.responses.wire import other_item, stored_item

if TYPE_CHECKING:
    from agents import TResponseInputItem
    from agents.memory import SessionSettings

__all__ = ["HistorySession", "produced_items"]


class HistorySession:
    """The SDK ``Session`` protocol over a history read before the run."""

    session_settings: SessionSettings | None = None

    def __init__(self, session_id: str, history: list[TResponseInputItem], message_count: int) -> None:
        """``history``: the first ``message_count`` messages of the run's request, as SDK items.
        A drop-in's run takes them from here and the rest of the messages as the new turn; any
        other run (declarative, workflow) uses the messages as they are."""
        self.session_id = session_id
        self.message_count = message_count
        self._items: list[TResponseInputItem] = list(history)
        self._history_len = len(history)
        self._turn_input = 0

    def start_turn(self, new_input: list[TResponseInputItem]) -> None:
        """Told by the run before it starts: the SDK writes the turn's input back first, and
        those items are the request's, not the run's."""
        self._turn_input = len(new_input)

    def produced(self) -> list[TResponseInputItem]:
        """What the run produced, as the SDK wrote it back (after the turn's input)."""
        return self._items[self._history_len + self._turn_input :]

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        items = self._items if limit is None else self._items[-limit:] if limit > 0 else []
        return copy.deepcopy(items)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        self._items.extend(copy.deepcopy(items))

    async def pop_item(self) -> TResponseInputItem | None:
        return self._items.pop() if len(self._items) > self._history_len else None

    async def clear_session(self) -> None:
        self._items.clear()
        self._history_len = 0
        self._turn_input = 0


def produced_items(session: HistorySession | None, client_calls: Collection[str]) -> list[rpb.ResponseItem] | None:
    """What a drop-in's run wrote back to its session, as items without ids (the SDK's are the
    upstream's or placeholders, not unique in a conversation); None when the run wrote nothing
    back (an agent that is not a drop-in, a turn paused for approval): keep its output instead.
    A client tool's call is the client's to answer: the SDK's placeholder output is left out."""
    produced = session.produced() if session is not None else []
    if not produced:
        return None
    items = []
    for raw in produced:
        data: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
        if not data or (data.get("type") == "function_call_output" and data.get("call_id") in client_calls):
            continue
        try:
            item = stored_item(data)
        except GatewayError:  # a shape the typed items do not take: kept as it is
            item = other_item(data)
        item.ClearField("id")
        items.append(item)
    return items
