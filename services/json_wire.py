"""JSON on the hot path, with orjson: every SSE chunk and response the shim writes, and the
bodies and chunks the declarative passthrough exchanges with its upstream.

Client request bodies are still parsed with the standard library (shim/completions.py): it
keeps every integer exact, so one too large to carry (beyond 2**53) is refused by name,
where orjson would silently round one beyond 2**64 to a float.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = orjson.JSONDecodeError


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. NaN and infinities become null (they are not JSON)."""
    return orjson.dumps(value)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)
