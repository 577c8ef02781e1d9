"""The gateway's tool catalogue (Python, HTTP and MCP providers), governed invocation and
``ToolService``.

``from services.tools import gateway_tool`` is the old, deprecated spelling of
``from agentgateway import gateway_tool``; it keeps working and warns.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    if name == "gateway_tool":
        warnings.warn(
            "'from services.tools import gateway_tool' is deprecated: use 'from agentgateway import gateway_tool'", DeprecationWarning, stacklevel=2
        )
        from services.tools.sdk import gateway_tool

        return gateway_tool
    raise AttributeError(f"module 'services.tools' has no attribute {name!r}")
