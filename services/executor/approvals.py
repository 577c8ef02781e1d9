"""Human-in-the-loop approvals: pausing a drop-in run on ``needs_approval`` tools, resuming it.

A run whose tools need approval stops with the SDK's ``result.interruptions``. The gateway
stores the run's ``RunState`` (``result.to_state()``) in the approval store under a fresh
id bound to the caller's key, and ends the run with an ``ApprovalRequired`` event and a final
output whose finish reason is ``approval_required``. One approval covers every call the run
paused on, with an optional decision per call: the SDK resumes a run only once every pending
call is decided, so one resolve is one resumption.

Resolving claims the approval (once, atomically), audits each decision, restores the state
against the agent being served now (``RunState.from_json``), applies ``state.approve`` /
``state.reject`` and runs the agent again from that state, as the SDK documents. The run
``context`` is rebuilt for the resuming request, never read back from storage.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents import Agent, RunContextWrapper, RunState
from agents.items import ToolApprovalItem
from agents.result import RunResult, RunResultStreaming

from services.errors import GatewayError
from services.executor.approval_store import ApprovalStore, PendingApproval
from services.executor.events import ApprovalCall, ApprovalRequired, ChatInput, Event, FinalOutput, Usage
from services.security.audit import AuditEvent, AuditLog
from services.security.overrides import utc_now
from services.vocabulary import ToolSource

__all__ = ["CallDecision", "Resolution", "RunApprovals", "agent_changed", "paused_run", "request_to_resume", "saved_request"]


@dataclass(frozen=True)
class CallDecision:
    approve: bool
    reason: str = ""  # told to the model when the call is rejected ("" = the SDK's message)


@dataclass(frozen=True)
class Resolution:
    """A human decision on a paused run: ``approve``/``reason`` for every call not in ``calls``."""

    approval_id: str
    approve: bool
    reason: str = ""
    calls: Mapping[str, CallDecision] = field(default_factory=dict)

    def for_call(self, call_id: str) -> CallDecision:
        return self.calls.get(call_id) or CallDecision(self.approve, self.reason)


def agent_changed(model_id: str, approval_id: str) -> GatewayError:
    return GatewayError(
        "FAILED_PRECONDITION",
        "APPROVAL_AGENT_CHANGED",
        f"approval {approval_id!r} cannot resume: agent {model_id!r} was reloaded and no longer has the agents or tools the run paused in;"
        " send the request again",
        {"approval": approval_id, "model": model_id},
    )


def saved_request(request: ChatInput) -> dict[str, Any]:
    """What the resumed run needs of the original request (the conversation is in the state)."""
    return {
        "sampling": request.sampling,
        "tool_choice": request.tool_choice,
        "response_format": request.response_format,
        "user": request.user,
        "extra": request.extra,
    }


def request_to_resume(pending: PendingApproval) -> ChatInput:
    """The original request's settings, for the resumed run's model settings and output type."""
    saved = pending.request
    return ChatInput(
        model_id=pending.model_id,
        messages=[],
        sampling=dict(saved.get("sampling") or {}),
        tool_choice=saved.get("tool_choice"),
        response_format=saved.get("response_format"),
        user=str(saved.get("user") or ""),
        extra=dict(saved.get("extra") or {}),
    )


@dataclass
class RunApprovals:
    """What one drop-in run needs to pause for approval and, when it resumes one, to resume."""

    store: ApprovalStore
    audit: AuditLog
    key_id: str
    request_id: str
    model_id: str
    request: ChatInput
    ttl_s: float
    resolution: Resolution | None = None
    clock: Callable[[], float] = time.time

    async def start_state(self, agent: Agent[Any], context: Any) -> RunState[Any, Agent[Any]] | None:
        """For a resumption: claim the approval, audit the decisions and return the restored
        state with them applied. None for a fresh run."""
        if self.resolution is None:
            return None
        resolution = self.resolution
        pending = await self.store.claim(resolution.approval_id, self.key_id)
        self._audit(pending, resolution)
        try:
            # The context is the resuming request's (rebuilt by the executor), not the stored one.
            state = await RunState.from_json(agent, json.loads(pending.state), context_override=RunContextWrapper(context=context))
        except Exception:  # noqa: BLE001 - whatever the SDK raises, the agent no longer fits the state
            raise agent_changed(self.model_id, pending.approval_id) from None
        waiting = {item.call_id: item for item in state.get_interruptions()}
        if set(waiting) != {c.call_id for c in pending.calls}:
            raise agent_changed(self.model_id, pending.approval_id)
        for call in pending.calls:
            decision = resolution.for_call(call.call_id)
            if decision.approve:
                state.approve(waiting[call.call_id])
            else:
                state.reject(waiting[call.call_id], rejection_message=decision.reason or None)
        return state

    async def pause(self, result: RunResult | RunResultStreaming, sources: dict[str, ToolSource] | None) -> list[Event]:
        """Store the paused run; the events that end it (approval, usage, final output)."""
        state = result.to_state().to_json()
        # The context is agent data the resumption rebuilds anyway: never store it.
        state["context"]["context"] = None
        now = self.clock()
        calls = tuple(_call(item, sources) for item in result.interruptions)
        pending = PendingApproval(
            approval_id=f"apr_{secrets.token_hex(16)}",
            key_id=self.key_id,
            model_id=self.model_id,
            calls=calls,
            created_at=now,
            expires_at=now + self.ttl_s,
            request=saved_request(self.request),
            state=json.dumps(state),
        )
        await self.store.create(pending)
        usage = result.context_wrapper.usage
        return [
            ApprovalRequired(pending.approval_id, calls, pending.expires_at),
            Usage(usage.input_tokens, usage.output_tokens),
            FinalOutput("", result.last_agent.name, "approval_required"),
        ]

    def _audit(self, pending: PendingApproval, resolution: Resolution) -> None:
        """One record per call: who decided, on which tool, under which approval. Arguments
        and the rejection reason stay out (they can carry anything the conversation held)."""
        when = utc_now()
        for call in pending.calls:
            self.audit.record(
                AuditEvent(
                    time=when,
                    request_id=self.request_id,
                    key_id=self.key_id,
                    action="resolve_approval",
                    resource=call.tool_name,
                    allowed=resolution.for_call(call.call_id).approve,
                    policy=f"approval:{pending.approval_id} call:{call.call_id}",
                )
            )


async def paused_run(
    approvals: RunApprovals | None, result: RunResult | RunResultStreaming, sources: dict[str, ToolSource] | None, model_id: str
) -> list[Event]:
    """The events that end a run paused on ``result.interruptions``. A run with no approval
    store cannot pause: it says so rather than answer with the paused run's empty reply."""
    if approvals is not None:
        return await approvals.pause(result, sources)
    tools = sorted({item.tool_name or item.name or "?" for item in result.interruptions})
    raise GatewayError(
        "UNIMPLEMENTED",
        "APPROVAL_REQUIRED",
        f"agent {model_id!r} stopped to ask for a human approval of {', '.join(map(repr, tools))}, and this run cannot be paused",
        {"tools": ",".join(tools)},
    )


def _call(item: ToolApprovalItem, sources: dict[str, ToolSource] | None) -> ApprovalCall:
    name = item.tool_name or item.name or ""
    return ApprovalCall(
        call_id=item.call_id or "",
        tool_name=name,
        arguments=item.arguments or "",
        agent=item.agent.name,
        source=(sources or {}).get(name, "sdk"),
    )
