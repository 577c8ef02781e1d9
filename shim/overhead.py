"""``x-gateway-overhead-ms``: the time a request spent in the gateway itself, as LiteLLM's
``x-litellm-overhead-duration-ms`` reports it, and the ``agentgateway_overhead_seconds``
histogram (docs/api.md, "Response headers").

Overhead = (when the response starts − when the request arrived) − the time the run waited on
its upstream until then. The executor measures the upstream part where the calls happen and
returns it in the response (``upstream_duration``; services/executor/upstream_time.py); the
route notes it here, and ``RequestContext`` writes the header as the response starts. For a
stream that is the first byte: the header covers the time to first token, not the rest of the
stream. Responses that ran nothing upstream (errors, ``/v1/models``) carry the header too: all
their time is the gateway's.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from google.protobuf.duration_pb2 import Duration
from starlette.requests import Request

from services.metrics import OVERHEAD_SECONDS

__all__ = ["HEADER", "note_upstream", "overhead_header"]

HEADER = b"x-gateway-overhead-ms"
_UPSTREAM_S = "upstream_s"
_MODEL = "served_model"


def note_upstream(request: Request, upstream: Duration, model: str) -> None:
    """The executor answered for ``model`` (a served id: a bounded label) after waiting
    ``upstream`` on upstream calls."""
    state = request.scope["state"]
    state[_UPSTREAM_S] = upstream.seconds + upstream.nanos / 1e9
    state[_MODEL] = model


def overhead_header(scope: MutableMapping[str, Any], arrived: float) -> tuple[bytes, bytes]:
    """The header for a response starting now, observed in the histogram when a run answered."""
    state = scope.get("state") or {}
    overhead = max(0.0, time.perf_counter() - arrived - state.get(_UPSTREAM_S, 0.0))
    model = state.get(_MODEL)
    if model is not None:
        OVERHEAD_SECONDS.labels(model).observe(overhead)
    return HEADER, f"{overhead * 1000:.3f}".encode()
