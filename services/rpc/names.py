"""AIP resource names (``approvals/{id}``, ``responses/{id}``, ``conversations/{id}``): the id
inside one, with a bare id accepted too, and INVALID_ARGUMENT naming the field otherwise."""

from __future__ import annotations

from services.errors import invalid_argument

__all__ = ["resource_id"]


def resource_id(name: str, collection: str, param: str = "name") -> str:
    """The id in ``{collection}/{id}`` (or ``name`` itself when it is a bare id)."""
    found = name.removeprefix(f"{collection}/")
    if not found or "/" in found:
        raise invalid_argument(f"{param} must be '{collection}/{{id}}'", param)
    return found
