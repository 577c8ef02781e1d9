"""Starlette's ``JSONResponse``, rendered with orjson (services/json_wire.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

from services import json_wire

__all__ = ["JSONResponse"]


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return json_wire.dumps(content)
