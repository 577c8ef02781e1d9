"""Runs for the Responses API: history from the conversation store, the run itself as any chat
run, the output as items, and the response kept (unless ``store`` is false).

A Responses request is a chat run with state around it. Its history is the chain of a
``previous_response_id`` (each ancestor's input then what it produced) or the items of a
``conversation``; with the new input items and the ``instructions`` (a system message of this
response only, as OpenAI's are not carried into the next) it becomes the run's messages, and
for a drop-in agent also the SDK's own ``Session`` (run_session.py): the agent runs with memory
as ``Runner.run(..., session=...)`` does, and what the SDK writes back — every message, tool
call and tool output of the turn — is what the next turn's history holds (the response's
``output`` shows the client its view: messages, MCP calls, client calls, approvals). The
run goes through ``Executor`` like every other (authentication, ``use_model``, rate limits,
deadlines, cancellation). Its text and client-tool deltas are assembled into output items by
``OutputAssembler`` — the shim assembles the same events the same way for the stream — and the
finished response, its input and output items go into the store in one write (appended to the
conversation, if any, in the same transaction).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import responses_pb2 as rpb
from services.conversations.items import new_item_id, new_response_id
from services.conversations.store import history_of
from services.errors import GatewayError, invalid_argument
from services.executor import events as ev
from services.executor.approval_store import PendingApproval
from services.executor.approvals import CallDecision, Resolution
from services.executor.codec import chat_input_from_proto, event_to_proto, usage_to_proto
from services.executor.conversation import to_sdk_items
from services.executor.run_session import HistorySession, produced_items
from services.responses.items import chat_messages, output_items
from services.responses.output import OutputAssembler, approval_call, approval_item_id
from services.responses.wire import item_to_json, response_from_json, response_to_json, stored_item
from services.security.context import caller

if TYPE_CHECKING:
    from services.conversations.store import ConversationStore
    from services.executor.executor import Executor  # imports this module's users, not this one

__all__ = ["ResponseRunner"]

# Why a response stopped early, by the run's finish reason.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _new_item_id(item: rpb.ResponseItem) -> str:
    return new_item_id(item.WhichOneof("item") or "item")


def _produced_items(session: HistorySession | None, response: rpb.Response) -> list[dict[str, Any]] | None:
    """The items to keep as what the run produced, for the next turn's history (None: the
    response's output). A paused or unfinished run keeps its output."""
    if response.status != rpb.RESPONSE_STATUS_COMPLETED or any(item.WhichOneof("item") == "approval_request" for item in response.output):
        return None
    client_calls = {item.function_call.call_id for item in response.output if item.WhichOneof("item") == "function_call"}
    produced = produced_items(session, client_calls)
    if produced is None:
        return None
    for item in produced:
        item.id = _new_item_id(item)
    return [item_to_json(item) for item in produced]


class ResponseRunner:
    def __init__(self, executor: Executor, store: ConversationStore | None) -> None:
        self._executor = executor
        self._store = store

    @property
    def store(self) -> ConversationStore | None:
        """Where responses and conversations are kept (None: this executor keeps none)."""
        return self._store

    def _require_store(self) -> ConversationStore:
        if self._store is None:
            raise GatewayError("UNIMPLEMENTED", "RESPONSES_STORE_UNAVAILABLE", "this executor keeps no responses or conversations")
        return self._store

    async def _history(self, request: rpb.ResponseRequest, owner: str) -> list[rpb.ResponseItem]:
        if request.previous_response_id and request.conversation:
            raise invalid_argument("previous_response_id and conversation cannot be used together", "previous_response_id")
        if request.previous_response_id:
            items = history_of(await self._require_store().response_chain(request.previous_response_id, owner))
        elif request.conversation:
            items = await self._require_store().conversation_history(request.conversation, owner)
        else:
            return []
        return [stored_item(item) for item in items]

    async def run(self, request: rpb.ResponseRequest, *, streaming: bool) -> AsyncIterator[ex_pb.StreamResponseResponse]:
        """``started``, then (streaming) the run's events, then ``finished``."""
        if not request.input:
            raise invalid_argument("input must contain at least one item", "input")
        owner = _owner()
        store = request.store if request.HasField("store") else True
        if store or request.previous_response_id or request.conversation:
            self._require_store()
        if store:
            # A response the client asked to keep and that could not be kept fails the request
            # (503 STATE_UNAVAILABLE): checked before the run, and again by the write after it.
            await self._require_store().ready()
        resume = await self._resumption(request)
        history = await self._history(request, owner) if resume is None else []
        new_input = []  # as sent, with ids for the items that came without one
        for sent in request.input:
            item = rpb.ResponseItem()
            item.CopyFrom(sent)
            item.id = item.id or _new_item_id(sent)
            new_input.append(item)
        # A resumed run continues from the state it paused in: its input is the decisions only.
        earlier = chat_messages(history, param="history", history=True)
        if request.instructions:
            earlier.insert(0, pb.ChatMessage(role=pb.ROLE_SYSTEM, content=request.instructions))
        messages = earlier + (chat_messages(request.input) if resume is None else [])
        chat = pb.ChatRequest(
            model=request.model,
            messages=messages,
            sampling=request.sampling,
            tools=request.tools,
            tool_choice=request.tool_choice,
            response_format=request.text_format,
            user=request.user,
            include_usage=True,
        )
        if request.HasField("extra"):
            chat.extra.CopyFrom(request.extra)
        chat_input = chat_input_from_proto(chat)
        if resume is None and (store or history):
            # The history a drop-in's SDK run reads, and what it writes back to keep (other agents run on the messages).
            earlier_dicts = chat_input.messages[: len(earlier)]
            chat_input.session = HistorySession(request.previous_response_id or request.conversation or "new", to_sdk_items(earlier_dicts), len(earlier))

        response = rpb.Response(
            id=new_response_id(),
            model=request.model,
            status=rpb.RESPONSE_STATUS_IN_PROGRESS,
            previous_response_id=request.previous_response_id,
            conversation=request.conversation,
            metadata=request.metadata,
            instructions=request.instructions,
            store=store,
        )
        response.create_time.FromSeconds(int(time.time()))
        yield ex_pb.StreamResponseResponse(started=response)

        assembler = OutputAssembler(response.id)
        final: ev.FinalOutput | None = None
        if streaming:
            events = self._executor.stream(chat_input) if resume is None else self._executor.stream_resumed(*resume)
            async for event in events:
                proto = event_to_proto(event)
                assembler.event(proto)
                if isinstance(event, ev.Usage):
                    response.usage.CopyFrom(usage_to_proto(event))
                elif isinstance(event, ev.FinalOutput):
                    final = event
                elif not isinstance(event, ev.TextDelta | ev.ToolCallDelta):
                    response.events.append(proto)
                yield ex_pb.StreamResponseResponse(event=proto)
        else:
            done = await (self._executor.complete(chat_input) if resume is None else self._executor.complete_resumed(*resume))
            final = done.final
            seen = [event_to_proto(e) for e in done.events]  # tool calls, handoffs, approvals: in order, before the reply
            for proto in seen:
                assembler.event(proto)
            assembler.text(final.text)
            for index, call in enumerate(final.tool_calls):
                function = call.get("function") or {}
                assembler.tool_call(index, call.get("id", ""), function.get("name", ""), function.get("arguments", ""))
            if done.usage is not None:
                response.usage.CopyFrom(usage_to_proto(done.usage))
            response.events.extend(seen)
        assembler.finish()
        if final is None:
            raise GatewayError("INTERNAL", "NO_FINAL_OUTPUT", "the run ended without a final output")
        response.output.extend(output_items(assembler.items))
        reason = _INCOMPLETE.get(final.finish_reason)
        response.status = rpb.RESPONSE_STATUS_INCOMPLETE if reason else rpb.RESPONSE_STATUS_COMPLETED
        response.incomplete_reason = reason or ""
        if store:
            await self._require_store().put_response(
                owner,
                response_to_json(response),
                input_items=[item_to_json(i) for i in new_input],
                output_items=_produced_items(chat_input.session, response),
                previous_response_id=request.previous_response_id or None,
                conversation_id=request.conversation or None,
                append_to_conversation=bool(request.conversation),
            )
        yield ex_pb.StreamResponseResponse(finished=response)

    async def _resumption(self, request: rpb.ResponseRequest) -> tuple[PendingApproval, Resolution] | None:
        """The paused run the input's approval responses decide on, and the decision; None
        when the input has none. A paused run resumes only whole: every call decided."""
        decisions = [item.approval_response for item in request.input if item.WhichOneof("item") == "approval_response"]
        if not decisions:
            return None
        if len(decisions) != len(request.input):
            raise invalid_argument("approval responses resume a paused run: send them without other input items", "input")
        named = [approval_call(d.approval_request_id) for d in decisions]
        approvals = {n[0] for n in named if n is not None}
        if None in named or len(approvals) != 1:
            raise invalid_argument("approval_request_id must name the approval requests of one paused run", "input[0].approval_request_id")
        pending = await self._executor.get_approval(approvals.pop())
        calls: dict[str, CallDecision] = {}
        for decision, found in zip(decisions, named, strict=True):
            assert found is not None
            if found[1] >= len(pending.calls):
                raise invalid_argument(f"no approval request {decision.approval_request_id!r}", "input[0].approval_request_id")
            calls[pending.calls[found[1]].call_id] = CallDecision(decision.approve, decision.reason)
        missing = [approval_item_id(pending.approval_id, i) for i, c in enumerate(pending.calls) if c.call_id not in calls]
        if missing:
            raise invalid_argument(f"every approval request of the paused run needs a response; missing: {', '.join(missing)}", "input")
        return pending, Resolution(pending.approval_id, approve=all(d.approve for d in calls.values()), calls=calls)

    async def get(self, response_id: str) -> rpb.Response:
        stored = await self._require_store().get_response(response_id, _owner())
        return response_from_json(stored.response)

    async def delete(self, response_id: str) -> None:
        await self._require_store().delete_response(response_id, _owner())

    async def input_items(self, response_id: str, page_size: int, page_token: str) -> tuple[list[rpb.ResponseItem], str]:
        page = await self._require_store().list_response_input_items(response_id, _owner(), page_size=page_size or 20, page_token=page_token)
        return [stored_item(i.item) for i in page.items], page.next_page_token


def _owner() -> str:
    principal = caller().principal
    return principal.key_id if principal is not None else ""
