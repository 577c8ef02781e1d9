"""``kind: python`` tools: a ``module:function`` importable from the config dir.

The schema and description come from the Agents SDK's own ``function_schema`` (signature,
type hints, Google/NumPy/Sphinx docstrings), and arguments are turned into the call's
``*args/**kwargs`` with its ``to_call_args``, exactly as ``@function_tool`` does. The schema is
the non-strict form (parameters with defaults are optional), which is what direct callers
need; ``agents.strict_schema.ensure_strict_json_schema`` turns it into the strict form.

Sync functions run on a dedicated thread pool (not the loop's default executor, which DNS
resolution shares) so a slow function never stalls other requests; async functions are
awaited on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agents.function_schema import FuncSchema, function_schema
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from services.config_files import ConfigError
from services.errors import GatewayError
from services.tools.config import PythonToolConfig
from services.tools.provider import ToolFailure, ToolProvider, ToolSpec

__all__ = ["MAX_FAILURE_CHARS", "PythonToolProvider", "output_text"]

MAX_FAILURE_CHARS = 500
_EXECUTOR_WORKERS = 32

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _tool_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_EXECUTOR_WORKERS, thread_name_prefix="gateway-tool")
        return _executor


def _ensure_importable(config_dir: Path) -> None:
    entry = str(config_dir.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


def output_text(value: Any) -> str:
    """A tool's return value as text: ``str`` as-is, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(to_jsonable_python(value), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _failure(exc: BaseException) -> ToolFailure:
    message = f"{type(exc).__name__}: {exc}"
    if len(message) > MAX_FAILURE_CHARS:
        message = message[: MAX_FAILURE_CHARS - 1] + "…"
    return ToolFailure(message)


def _param_path(loc: tuple[int | str, ...]) -> str:
    out = "arguments"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class PythonToolProvider(ToolProvider):
    """One ``kind: python`` entry."""

    def __init__(self, config: PythonToolConfig, config_dir: Path) -> None:
        self.config = config
        self.config_dir = config_dir
        self._func: Callable[..., Any] | None = None
        self._schema: FuncSchema | None = None
        self._is_async = False

    def _fail(self, why: str) -> ConfigError:
        return ConfigError(f"tool {self.config.name!r}: target {self.config.target!r}: {why}")

    async def start(self) -> None:
        module_name, _, attr_path = self.config.target.partition(":")
        _ensure_importable(self.config_dir)
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - any import-time failure of user code is a config problem, reported with its type
            raise self._fail(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
        for part in attr_path.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise self._fail(f"{part!r} not found") from None
        if not callable(obj) or inspect.isclass(obj):
            raise self._fail("is not a function")
        if inspect.isasyncgenfunction(obj) or inspect.isgeneratorfunction(obj):
            raise self._fail("generator functions are not supported")
        try:
            schema = function_schema(obj, description_override=self.config.description, strict_json_schema=False)
        except Exception as exc:  # noqa: BLE001 - the SDK raises UserError/TypeError/NameError for unsupported signatures
            raise self._fail(f"cannot build a schema from its signature: {type(exc).__name__}: {exc}") from None
        if schema.takes_context:
            raise self._fail("functions taking a RunContextWrapper/ToolContext are not supported as gateway tools")
        self._func = obj
        self._schema = schema
        self._is_async = inspect.iscoroutinefunction(obj)

    async def list_tools(self) -> list[ToolSpec]:
        if self._schema is None:
            return []
        return [
            ToolSpec(
                name=self.config.name,
                description=self._schema.description or "",
                parameters=self._schema.params_json_schema,
                kind="python",
                target=self.config.target,
            )
        ]

    async def invoke(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        if self._func is None or self._schema is None:
            raise ToolFailure(f"tool {self.config.name!r} is not started")
        try:
            parsed = self._schema.params_pydantic_model.model_validate(arguments)
        except ValidationError as exc:
            err = exc.errors()[0]
            param = _param_path(tuple(err["loc"]))
            raise GatewayError("INVALID_ARGUMENT", "TOOL_ARGUMENTS_INVALID", f"{param}: {err['msg']}", {"param": param}) from None
        try:
            args, kwargs = self._schema.to_call_args(parsed)
        except Exception as exc:  # noqa: BLE001 - ModelBehaviorError for **kwargs collisions
            raise GatewayError("INVALID_ARGUMENT", "TOOL_ARGUMENTS_INVALID", str(exc)) from None
        try:
            if self._is_async:
                result = await self._func(*args, **kwargs)
            else:
                loop = asyncio.get_running_loop()
                call = functools.partial(contextvars.copy_context().run, self._func, *args, **kwargs)
                result = await loop.run_in_executor(_tool_executor(), call)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing tool is reported to the caller, never crashes the gateway
            raise _failure(exc) from exc
        return output_text(result)

    async def close(self) -> None:
        self._func = None
        self._schema = None
