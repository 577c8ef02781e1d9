"""Request bodies must never redirect upstream traffic or credentials.

Outbound URLs and headers come from config only. A request that carries a field that would
do so in other gateways (``api_base``, ``base_url``, ``api_key``, ``headers``,
``extra_headers``) at any depth is rejected before anything goes out. JSON schemas (client
tool parameters, response formats) describe data, not configuration, so a property that
happens to be called ``headers`` there is fine.
"""

from __future__ import annotations

from typing import Any

from services.errors import invalid_argument

__all__ = ["FORBIDDEN_FIELDS", "find_forbidden_field", "reject_forbidden_fields"]

FORBIDDEN_FIELDS = frozenset({"api_base", "base_url", "api_key", "headers", "extra_headers"})
_SCHEMA_KEYS = frozenset({"parameters", "schema"})
_MAX_DEPTH = 64


def find_forbidden_field(value: Any, path: str = "", depth: int = 0) -> str | None:
    """The path of the first forbidden key in ``value`` (e.g. ``extra_body.base_url``), or None."""
    if depth > _MAX_DEPTH:
        return path or "<root>"  # absurd nesting is refused rather than walked
    # Paths are spelled out only for a hit or a container to descend into: this runs on every
    # request body, whose leaves (message texts) are most of it.
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(key, str) and key.lower() in FORBIDDEN_FIELDS:
                return f"{path}.{key}" if path else str(key)
            if not isinstance(child, dict | list) or (key in _SCHEMA_KEYS and isinstance(child, dict)):
                continue
            found = find_forbidden_field(child, f"{path}.{key}" if path else str(key), depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if isinstance(child, dict | list) and (found := find_forbidden_field(child, f"{path}[{index}]", depth + 1)):
                return found
    return None


def reject_forbidden_fields(value: Any, path: str = "") -> None:
    """Raise INVALID_ARGUMENT (reason FORBIDDEN_FIELD, ``param`` the field's path) if ``value`` carries one."""
    forbidden = find_forbidden_field(value, path)
    if forbidden:
        raise invalid_argument(
            f"the field {forbidden!r} is not accepted: upstream URLs, keys and headers come from gateway config only", forbidden, "FORBIDDEN_FIELD"
        )
