"""The tool catalogue: ``tools.yaml`` -> providers -> named tools, with validation,
deadlines, error mapping and logging in one place.

A provider that fails to start is reported in ``diagnostics`` and its tools are absent; the
rest still work. ``refresh`` builds a complete new catalogue before swapping it in, so a
malformed file raises and leaves the old catalogue serving; the old providers are closed once
their in-flight calls finish (bounded by their timeouts).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

from jsonschema import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import Draft202012Validator, validator_for

from services.log import get_logger
from services.config_files import ConfigError
from services.errors import GatewayError, tool_not_found
from services.tools.config import (
    TOOL_NAME_PATTERN,
    HttpToolConfig,
    McpToolConfig,
    OutboundConfig,
    PythonToolConfig,
    ToolConfig,
    ToolsFile,
    load_tools_config,
)
from services.tools.http_tools import HttpToolProvider
from services.tools.mcp_tools import McpToolProvider
from services.tools.provider import ToolFailure, ToolKind, ToolProvider, ToolSpec
from services.tools.python_tools import PythonToolProvider

__all__ = ["MAX_FAILURE_MESSAGE_CHARS", "ToolCatalog", "ToolDiagnostic", "ToolResult"]

log = get_logger("tools")

MAX_FAILURE_MESSAGE_CHARS = 1000
_NAME_RE = re.compile(TOOL_NAME_PATTERN)


@dataclass(frozen=True)
class ToolDiagnostic:
    """A configured entry (or one of its tools) that is not available, and why."""

    name: str
    kind: str
    message: str


@dataclass(frozen=True)
class ToolResult:
    output: str
    duration_s: float
    kind: ToolKind


@dataclass
class _Entry:
    spec: ToolSpec
    provider: ToolProvider
    validator: Validator
    timeout_s: float


@dataclass
class _State:
    tools: dict[str, _Entry] = field(default_factory=dict)
    providers: builtins.list[ToolProvider] = field(default_factory=builtins.list)
    diagnostics: builtins.list[ToolDiagnostic] = field(default_factory=builtins.list)
    max_timeout_s: float = 0.0
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()


def _json_path(parts: Any) -> str:
    out = "arguments"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe_violation(error: SchemaViolation) -> tuple[str, str]:
    """(param path, message) for a violation, never quoting the offending value (arguments
    may be sensitive and error messages get logged)."""
    path = list(error.absolute_path)
    instance = error.instance
    kind = error.validator
    value: Any = error.validator_value  # the schema keyword's JSON value (Unset only on hand-made errors)
    if kind == "required" and isinstance(instance, dict):
        missing = [name for name in value if name not in instance]
        if missing:
            return _json_path([*path, missing[0]]), "is required"
    if kind == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties") or {})
        extra = [k for k in instance if k not in known]
        if extra and not schema.get("patternProperties"):
            return _json_path([*path, extra[0]]), "is not an allowed argument"
    messages = {
        "type": f"must be of type {value if isinstance(value, str) else ' or '.join(map(str, value))}",
        "enum": f"must be one of {value!r}",
        "const": f"must be {value!r}",
        "minimum": f"must be >= {value}",
        "maximum": f"must be <= {value}",
        "exclusiveMinimum": f"must be > {value}",
        "exclusiveMaximum": f"must be < {value}",
        "minLength": f"must be at least {value} characters long",
        "maxLength": f"must be at most {value} characters long",
        "pattern": f"must match the pattern {value!r}",
        "minItems": f"must have at least {value} items",
        "maxItems": f"must have at most {value} items",
        "uniqueItems": "must not contain duplicate items",
        "format": f"must be a valid {value}",
        "anyOf": "does not match any of the allowed shapes",
        "oneOf": "must match exactly one of the allowed shapes",
        "not": "is not allowed",
        "additionalProperties": "has arguments that are not allowed",
        "required": "is missing required fields",
    }
    return _json_path(path), messages.get(str(kind), f"violates the schema's {kind!r} rule")


def _make_validator(schema: dict[str, Any]) -> Validator:
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


class ToolCatalog:
    """All configured tools: every ``kind`` (python, http, mcp) has its built-in provider.
    Python modules are imported from ``config_dir`` and stdio MCP servers run in it."""

    def __init__(self, config_path: Path, config_dir: Path) -> None:
        self.config_path = Path(config_path)
        self.config_dir = Path(config_dir)
        self._state = _State()
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.generation = 0  # bumped by every successful start/refresh

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load ``tools.yaml`` and start every provider. Raises ``ConfigError`` if the file
        is malformed; a provider that fails to start is only a diagnostic."""
        await self.refresh()

    async def refresh(self) -> None:
        """Reload ``tools.yaml``. On ``ConfigError`` the current catalogue stays."""
        async with self._lock:
            config = load_tools_config(self.config_path) or ToolsFile()
            new = await self._build(config)
            old, self._state = self._state, new
            self.generation += 1
        log.info(
            "tool catalogue loaded",
            extra={"fields": {"tools": len(new.tools), "diagnostics": len(new.diagnostics), "generation": self.generation}},
        )
        for diag in new.diagnostics:
            log.warning("tool unavailable", extra={"fields": {"tool": diag.name, "kind": diag.kind, "problem": diag.message}})
        if old.providers:
            task = asyncio.create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        async with self._lock:
            state, self._state = self._state, _State()
        for task in builtins.list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self._close_providers(state.providers)

    # -- queries -------------------------------------------------------------------------

    def list(self) -> builtins.list[ToolSpec]:
        return [self._state.tools[name].spec for name in sorted(self._state.tools)]

    def get(self, name: str) -> ToolSpec | None:
        entry = self._state.tools.get(name)
        return entry.spec if entry else None

    @property
    def diagnostics(self) -> builtins.list[ToolDiagnostic]:
        return builtins.list(self._state.diagnostics)

    # -- invocation ----------------------------------------------------------------------

    async def invoke(self, name: str, arguments: dict[str, Any], timeout_s: float | None = None) -> ToolResult:
        """Validate ``arguments`` and run the tool under min(``timeout_s``, its ``timeout_s``).

        Raises ``GatewayError``: NOT_FOUND/TOOL_NOT_FOUND, INVALID_ARGUMENT/TOOL_ARGUMENTS_INVALID,
        DEADLINE_EXCEEDED/TOOL_TIMEOUT, INTERNAL/TOOL_FAILED."""
        state = self._state
        entry = state.tools.get(name)
        started = time.monotonic()
        kind: str = entry.spec.kind if entry else "unknown"
        outcome = "error"
        try:
            if entry is None:
                outcome = "not_found"
                raise tool_not_found(name)
            self._validate(entry, arguments)
            if log.isEnabledFor(logging.DEBUG):  # DEBUG: argument names only, never values
                log.debug("tool arguments", extra={"fields": {"tool": name, "argument_names": sorted(arguments)}})
            deadline = entry.timeout_s if timeout_s is None else min(timeout_s, entry.timeout_s)
            state.inflight += 1
            state.idle.clear()
            try:
                output = await self._run(entry, arguments, deadline)
            finally:
                state.inflight -= 1
                if state.inflight == 0:
                    state.idle.set()
            outcome = "ok"
            return ToolResult(output=output, duration_s=time.monotonic() - started, kind=entry.spec.kind)
        except GatewayError as exc:
            if outcome == "error":
                outcome = {"TOOL_ARGUMENTS_INVALID": "invalid_arguments", "TOOL_TIMEOUT": "timeout", "TOOL_FAILED": "failed"}.get(exc.reason, "error")
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            log.info(
                "tool invoked",
                extra={"fields": {"tool": name, "kind": kind, "duration_ms": round((time.monotonic() - started) * 1000, 1), "outcome": outcome}},
            )

    def _validate(self, entry: _Entry, arguments: Any) -> None:
        if not isinstance(arguments, dict):
            raise GatewayError("INVALID_ARGUMENT", "TOOL_ARGUMENTS_INVALID", "arguments must be a JSON object", {"param": "arguments"})
        error = best_match(entry.validator.iter_errors(arguments))
        if error is not None:
            param, message = _describe_violation(error)
            raise GatewayError("INVALID_ARGUMENT", "TOOL_ARGUMENTS_INVALID", f"{param}: {message}", {"param": param})

    async def _run(self, entry: _Entry, arguments: dict[str, Any], deadline: float) -> str:
        name = entry.spec.name
        if deadline <= 0:
            raise GatewayError("DEADLINE_EXCEEDED", "TOOL_TIMEOUT", f"tool {name!r} had no time left to run")
        try:
            async with asyncio.timeout(deadline):
                output = await entry.provider.invoke(entry.spec, arguments)
        except TimeoutError:
            # Our deadline, or the provider's own transport timeout (HTTP/MCP raise TimeoutError).
            raise GatewayError("DEADLINE_EXCEEDED", "TOOL_TIMEOUT", f"tool {name!r} did not finish within {deadline:g}s") from None
        except GatewayError:
            raise
        except ToolFailure as exc:
            message = str(exc) or type(exc).__name__
            if len(message) > MAX_FAILURE_MESSAGE_CHARS:
                message = message[: MAX_FAILURE_MESSAGE_CHARS - 1] + "…"
            raise GatewayError("INTERNAL", "TOOL_FAILED", f"tool {name!r} failed: {message}") from None
        except Exception as exc:  # provider bugs must not escape as anything but TOOL_FAILED
            log.exception("tool raised unexpectedly", extra={"fields": {"tool": name, "kind": entry.spec.kind}})
            raise GatewayError("INTERNAL", "TOOL_FAILED", f"tool {name!r} failed unexpectedly ({type(exc).__name__})") from None
        if not isinstance(output, str):
            log.error("tool provider returned a non-string", extra={"fields": {"tool": name, "type": type(output).__name__}})
            raise GatewayError("INTERNAL", "TOOL_FAILED", f"tool {name!r} failed unexpectedly (bad output type)")
        return output

    # -- building ------------------------------------------------------------------------

    def _provider_for(self, cfg: ToolConfig, outbound: OutboundConfig) -> ToolProvider:
        # Exhaustive over ToolConfig: a new kind without a provider here fails type checking.
        if isinstance(cfg, PythonToolConfig):
            return PythonToolProvider(cfg, self.config_dir)
        if isinstance(cfg, HttpToolConfig):
            return HttpToolProvider(cfg, outbound)
        if isinstance(cfg, McpToolConfig):
            return McpToolProvider.from_config(cfg, self.config_dir)
        assert_never(cfg)

    async def _start_one(self, cfg: ToolConfig, outbound: OutboundConfig) -> tuple[ToolProvider | None, builtins.list[ToolSpec], str | None]:
        try:
            provider = self._provider_for(cfg, outbound)
        except Exception as exc:  # noqa: BLE001 - a provider that cannot be built is a diagnostic, not a crash
            return None, [], f"cannot create provider: {type(exc).__name__}: {exc}"
        try:
            async with asyncio.timeout(cfg.timeout_s):
                await provider.start()
                specs = await provider.list_tools()
        except Exception as exc:  # noqa: BLE001 - one bad entry must not take the others down
            if isinstance(exc, TimeoutError):
                problem = f"did not start within {cfg.timeout_s:g}s"
            elif isinstance(exc, ConfigError | ToolFailure | GatewayError):
                problem = str(exc)
            else:
                problem = f"failed to start: {type(exc).__name__}: {exc}"
            await self._close_providers([provider])
            return None, [], problem
        return provider, specs, None

    async def _build(self, config: ToolsFile) -> _State:
        results = await asyncio.gather(*(self._start_one(cfg, config.outbound) for cfg in config.tools))
        state = _State()
        owners: dict[str, str] = {}
        for cfg, (provider, specs, problem) in zip(config.tools, results, strict=True):
            if problem is not None or provider is None:
                state.diagnostics.append(ToolDiagnostic(cfg.name, cfg.kind, problem or "not started"))
                continue
            state.providers.append(provider)
            state.max_timeout_s = max(state.max_timeout_s, cfg.timeout_s)
            for spec in specs:
                if not _NAME_RE.match(spec.name):
                    state.diagnostics.append(ToolDiagnostic(spec.name, spec.kind, f"tool name must match {TOOL_NAME_PATTERN} (from entry {cfg.name!r})"))
                    continue
                if spec.name in state.tools:
                    state.diagnostics.append(
                        ToolDiagnostic(spec.name, spec.kind, f"duplicate tool name {spec.name!r} (already provided by entry {owners[spec.name]!r})")
                    )
                    continue
                try:
                    validator = _make_validator(spec.parameters)
                except SchemaError as exc:
                    state.diagnostics.append(ToolDiagnostic(spec.name, spec.kind, f"invalid parameters schema: {exc.message}"))
                    continue
                state.tools[spec.name] = _Entry(spec=spec, provider=provider, validator=validator, timeout_s=cfg.timeout_s)
                owners[spec.name] = cfg.name
        return state

    async def _retire(self, old: _State) -> None:
        try:
            async with asyncio.timeout(old.max_timeout_s + 1.0):
                await old.idle.wait()
        except TimeoutError:
            pass
        finally:
            await self._close_providers(old.providers)

    @staticmethod
    async def _close_providers(providers: builtins.list[ToolProvider]) -> None:
        for provider in providers:
            try:
                await provider.close()
            except Exception:  # closing is best effort; log and go on
                log.warning("tool provider failed to close", exc_info=True)
