"""Chat completions on a server-side conversation (``ChatRequest.conversation``; REST: the
``x-agentgateway-conversation`` header).

The same conversations as the Responses API's, read and written the same way: the
conversation's items become chat history before the request's messages
(``services.responses.items.chat_messages``, as a Responses run reads its history), and once
the run has its final output the turn — the request's messages as input items
(``input_items``, the inverse) and the reply as output items (``OutputAssembler``, as a
Responses run assembles its output) — is appended in one write, before the client sees the
end of the reply, so a next request that follows the reply finds it. The reply kept is what
the client got (a stream's text and client-tool deltas, a unary reply's message), or for a
drop-in agent what its SDK run wrote back to its session (run_session.py), tool calls and
outputs included, as a Responses run keeps it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import responses_pb2 as rpb
from services.conversations.store import ConversationStore
from services.errors import GatewayError, invalid_argument
from services.executor import events as ev
from services.executor.codec import chat_input_from_proto
from services.executor.conversation import to_sdk_items
from services.executor.run_session import HistorySession, produced_items
from services.responses.items import chat_messages, input_items, output_items
from services.responses.output import OutputAssembler
from services.responses.wire import item_to_json, stored_item
from services.security.context import caller

__all__ = ["ChatConversations", "ChatTurn"]


class ChatTurn:
    """One chat request on a conversation: the request with its history, and the turn to keep."""

    def __init__(
        self, store: ConversationStore, conversation_id: str, owner: str, chat: pb.ChatRequest, new_input: list[rpb.ResponseItem], history_len: int
    ) -> None:
        self.chat = chat  # the request's messages after the conversation's (``history_len`` of them)
        self._history_len = history_len
        self._session: HistorySession | None = None
        self._store = store
        self._conversation_id = conversation_id
        self._owner = owner
        self._input = new_input
        # Item ids come from the store (the assembler's derive from a response id; a chat turn has none).
        self._reply = OutputAssembler("")
        self._kept = False

    def chat_input(self) -> ev.ChatInput:
        """The run's input: the messages with the history, and the history as a drop-in's SDK session."""
        chat = chat_input_from_proto(self.chat)
        earlier = chat.messages[: self._history_len]
        chat.session = self._session = HistorySession(self._conversation_id, to_sdk_items(earlier), len(earlier))
        return chat

    async def streamed(self, events: AsyncIterator[ev.Event]) -> AsyncIterator[ev.Event]:
        """``events`` as they come; the turn is kept before the final output goes on."""
        async for event in events:
            if isinstance(event, ev.TextDelta):
                self._reply.text(event.text)
            elif isinstance(event, ev.ToolCallDelta):
                self._reply.tool_call(event.index, event.id, event.name, event.arguments_delta)
            elif isinstance(event, ev.FinalOutput):
                await self._keep()
            yield event

    async def completed(self, final: ev.FinalOutput) -> None:
        """Keep the turn of a unary run, whose reply is ``final``."""
        self._reply.text(final.text)
        for index, call in enumerate(final.tool_calls):
            function = call.get("function") or {}
            self._reply.tool_call(index, call.get("id", ""), function.get("name", ""), function.get("arguments", ""))
        await self._keep()

    async def _keep(self) -> None:
        if self._kept:
            return
        self._kept = True
        self._reply.finish()
        client_calls = {item.call_id for item in self._reply.items if item.kind == "function_call"}
        output = produced_items(self._session, client_calls)
        if output is None:
            output = output_items(self._reply.items)
            for item in output:
                item.ClearField("id")
        await self._store.append_items(self._conversation_id, self._owner, [item_to_json(i) for i in (*self._input, *output)])


class ChatConversations:
    def __init__(self, store: ConversationStore | None) -> None:
        self._store = store

    async def open(self, chat: pb.ChatRequest) -> ChatTurn | None:
        """The turn of a request that names a conversation (None for one that does not): its
        messages are checked as items first (a 400 before anything runs), then the history is
        read (404 ``CONVERSATION_NOT_FOUND`` for an unknown, expired or another key's)."""
        if not chat.conversation:
            return None
        if self._store is None:
            raise GatewayError("UNIMPLEMENTED", "RESPONSES_STORE_UNAVAILABLE", "this executor keeps no responses or conversations")
        if not chat.messages:
            raise invalid_argument("messages must contain at least one message: the turn to add to the conversation", "messages")
        new_input = input_items(chat.messages)
        owner = _owner()
        history = await self._store.conversation_history(chat.conversation, owner)
        with_history = pb.ChatRequest()
        with_history.CopyFrom(chat)
        del with_history.messages[:]
        with_history.messages.extend(chat_messages((stored_item(item) for item in history), param="history", history=True))
        history_len = len(with_history.messages)
        with_history.messages.extend(chat.messages)
        return ChatTurn(self._store, chat.conversation, owner, with_history, new_input, history_len)


def _owner() -> str:
    principal = caller().principal
    return principal.key_id if principal is not None else ""
