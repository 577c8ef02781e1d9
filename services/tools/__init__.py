"""Gateway tools. Drop-in agents use ``from services.tools import gateway_tool``."""

from services.tools.sdk import gateway_tool

__all__ = ["gateway_tool"]
