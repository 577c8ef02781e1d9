"""Hypothesis strategies for any protobuf message, built from its descriptor: every scalar
type across its whole range (NaN and infinities included), enums with values the schema does
not name (proto3 enums are open), nested and repeated fields, and ``Struct`` as arbitrary JSON.
What a careless or hostile gRPC client can put on the wire."""

from __future__ import annotations

from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

__all__ = ["json_values", "messages"]

json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**60), 2**60), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=15,
)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in _INT_RANGES:
        low, high = _INT_RANGES[field.type]
        return st.one_of(st.sampled_from([0, 1, -1 if low < 0 else 2, low, high]), st.integers(low, high))
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=30)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=30)
    if field.type == FieldDescriptor.TYPE_ENUM:
        named = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(named), st.integers(-5, 50))  # unnamed values included
    raise TypeError(f"no strategy for field type {field.type}")


@st.composite
def _fill(draw: st.DrawFn, cls: type[Message], depth: int) -> Message:
    message = cls()
    descriptor: Descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Struct":
        value = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
        try:
            message.update(value)  # type: ignore[attr-defined]
        except (ValueError, TypeError):
            pass  # a value Struct itself refuses: leave it empty
        return message
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if field.message_type is not None:
            if depth <= 0 or field.message_type.GetOptions().map_entry:
                continue
            sub = message_factory.GetMessageClass(field.message_type)
            if _repeated(field):
                getattr(message, field.name).extend(draw(st.lists(_fill(sub, depth - 1), max_size=2)))
            else:
                getattr(message, field.name).CopyFrom(draw(_fill(sub, depth - 1)))
        elif _repeated(field):
            getattr(message, field.name).extend(draw(st.lists(_scalar(field), max_size=3)))
        else:
            setattr(message, field.name, draw(_scalar(field)))
    return message


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated) if hasattr(field, "is_repeated") else field.label == FieldDescriptor.LABEL_REPEATED


def messages(cls: type[Message], depth: int = 4) -> st.SearchStrategy[Message]:
    """Any ``cls`` message, nested at most ``depth`` levels."""
    return _fill(cls, depth)
