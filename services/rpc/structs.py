"""``google.protobuf.Struct`` <-> JSON objects, for the few free-form fields of the API
(tool parameters and arguments, JSON schemas, ``ChatRequest.extra``).

``Struct`` carries every number as a double, so on the way out integral numbers become ints
again (up to 2**53, where doubles stop being exact): ``5`` must not reach an upstream, a URL
or a tool as ``5.0``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

from services.errors import invalid_argument

__all__ = ["integral_numbers", "json_from_struct", "struct_from_json"]


def struct_from_json(value: dict[str, Any], param: str | None) -> struct_pb2.Struct:
    """``value`` as a Struct; INVALID_ARGUMENT naming ``param`` (None: the top-level key at
    fault) if it holds an integer a double cannot carry exactly (beyond 2**53): it would
    arrive changed, or not at all."""
    for key, item in value.items():
        if _has_inexact_integer(item):
            name = param or key
            raise invalid_argument(f"{name} holds an integer too large to carry exactly (more than 2**53 in magnitude)", name)
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _has_inexact_integer(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**53:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_from_struct(struct: struct_pb2.Struct, param: str) -> dict[str, Any]:
    """The JSON object in ``struct``; INVALID_ARGUMENT naming ``param`` if a gRPC client put a
    number JSON cannot carry (NaN, Infinity) in it."""
    try:
        raw = json_format.MessageToDict(struct)
    except ValueError:
        raise invalid_argument(f"{param} holds a number JSON cannot carry (NaN or Infinity)", param) from None
    out: dict[str, Any] = integral_numbers(raw)
    return out


def integral_numbers(value: Any) -> Any:
    """``value`` with every integral float (``7.0``) as an int, recursively."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: integral_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_numbers(v) for v in value]
    return value
