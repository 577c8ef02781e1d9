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


def struct_from_json(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


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
