"""A paused run, as OpenAI clients can take it (docs/api.md, "Approvals").

The reply stays a valid ``chat.completion``: an assistant message whose ``content`` tells a
human what waits (tool, arguments, how to answer), ``finish_reason: "approval_required"``, and
the machine-readable approval in the message's ``agentgateway.approval`` extension (the same
object ``GET /v1/approvals/{id}`` returns). Streams carry the same in their last chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import messages_pb2 as pb
from services.vocabulary import TOOL_SOURCE

__all__ = ["approval_delta", "approval_json", "find_approval", "resource_json"]


def _calls_json(calls: Iterable[pb.ApprovalCall]) -> list[dict[str, Any]]:
    return [
        {"call_id": c.call_id, "name": c.tool_name, "arguments": c.arguments, "agent": c.agent, "source": TOOL_SOURCE.from_proto(c.source) or "sdk"}
        for c in calls
    ]


def approval_json(approval: pb.ApprovalRequired, model: str) -> dict[str, Any]:
    return {"id": approval.approval_id, "object": "approval", "model": model, "expires_at": approval.expire_time.seconds, "calls": _calls_json(approval.calls)}


def resource_json(approval: ex_pb.Approval) -> dict[str, Any]:
    """``GET /v1/approvals/{id}``: the same shape as the reply's extension, plus ``created_at``."""
    return {
        "id": approval.approval_id,
        "object": "approval",
        "model": approval.model,
        "created_at": approval.create_time.seconds,
        "expires_at": approval.expire_time.seconds,
        "calls": _calls_json(approval.calls),
    }


def find_approval(events: Iterable[pb.AgentEvent]) -> pb.ApprovalRequired | None:
    for event in events:
        if event.WhichOneof("event") == "approval_required":
            return event.approval_required
    return None


def approval_delta(approval: pb.ApprovalRequired, model: str, *, after_text: bool) -> dict[str, Any]:
    """What a paused run adds to its assistant message (or last chunk's delta): readable
    content, after a blank line when the model said something first, and the typed extension."""
    calls = "; ".join(f"{c.tool_name}({c.arguments})" for c in approval.calls)
    expires = datetime.fromtimestamp(approval.expire_time.seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    notice = (
        f"This request is waiting for a human approval (id {approval.approval_id}): the agent wants to call {calls}."
        f' Approve or reject it with POST /v1/approvals/{approval.approval_id} and {{"approve": true}} or {{"approve": false}}'
        f" before {expires}; the answer continues from there."
    )
    return {"content": f"\n\n{notice}" if after_text else notice, "agentgateway": {"approval": approval_json(approval, model)}}
