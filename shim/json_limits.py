"""How deep a request's JSON may nest.

Free-form JSON (tool ``parameters``, ``response_format`` schemas, unknown fields) travels to
the executor as ``google.protobuf.Struct``, which spends two message levels per JSON level;
protobuf refuses messages nested more than 100 deep. A documented limit well under that
(and far above any real schema: OpenAI's structured outputs allow 10 levels) turns what would
be a failure deep in translation into a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_JSON_DEPTH", "field_nested_too_deep"]

MAX_JSON_DEPTH = 32


def field_nested_too_deep(body: dict[str, Any], limit: int) -> str | None:
    """The top-level field under which ``body`` nests deeper than ``limit`` levels (the body
    itself is level 1), or None. Iterative, so no depth can exhaust the Python stack."""
    stack: list[tuple[Any, int, str]] = [(value, 2, key) for key, value in body.items()]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return field
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1, field) for child in children)
    return None
