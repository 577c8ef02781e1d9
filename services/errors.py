"""The one error type domain code raises.

Domain modules raise ``GatewayError`` with a gRPC status name and an UPPER_SNAKE reason;
servicers turn it into a gRPC status carrying ``google.rpc.ErrorInfo`` and the shim turns
that into OpenAI error JSON. Messages are written for API users: no internals, no keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ERROR_DOMAIN", "GatewayError", "StatusName", "invalid_argument", "model_not_found", "tool_not_found"]

ERROR_DOMAIN = "agentgateway.dev"

StatusName = Literal[
    "INVALID_ARGUMENT",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "UNIMPLEMENTED",
    "CANCELLED",
    "INTERNAL",
]


@dataclass
class GatewayError(Exception):
    status: StatusName
    reason: str
    message: str
    # Extra ErrorInfo metadata, e.g. {"param": "messages[0].role"} or {"guardrail": "no_secrets"}.
    metadata: dict[str, str] = field(default_factory=dict)
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def model_not_found(model_id: str) -> GatewayError:
    return GatewayError("NOT_FOUND", "MODEL_NOT_FOUND", f"the model {model_id!r} does not exist", {"model": model_id})


def tool_not_found(name: str) -> GatewayError:
    return GatewayError("NOT_FOUND", "TOOL_NOT_FOUND", f"no tool named {name!r}", {"tool": name})


def invalid_argument(message: str, param: str | None = None, reason: str = "INVALID_ARGUMENT") -> GatewayError:
    return GatewayError("INVALID_ARGUMENT", reason, message, {"param": param} if param else {})
