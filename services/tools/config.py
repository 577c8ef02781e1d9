"""The ``tools.yaml`` schema (a public contract: docs/tools.md, "config/tools.yaml").

Extra keys are forbidden everywhere so a typo is a start-up error, not a silently ignored
setting. Validation messages name the field; ``services.config_files.load_yaml_model`` adds the file.

Secrets never live in the YAML: HTTP headers and MCP ``env`` values must be
``env:NAME`` references, resolved from the environment when a tool is called or started.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from jsonschema import SchemaError
from jsonschema.validators import validator_for
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.config_files import load_yaml_model

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT_S",
    "TOOL_NAME_PATTERN",
    "HttpToolConfig",
    "McpToolConfig",
    "OutboundConfig",
    "PythonToolConfig",
    "ToolConfig",
    "ToolsFile",
    "env_reference",
    "load_tools_config",
    "url_placeholders",
]

# What OpenAI accepts for function names.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024

_ENV_REF_RE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

ToolName = Annotated[str, StringConstraints(pattern=TOOL_NAME_PATTERN)]
Timeout = Annotated[float, Field(gt=0, le=3600)]


def env_reference(value: str) -> str | None:
    """``"env:NAME"`` -> ``"NAME"``; anything else -> ``None``."""
    match = _ENV_REF_RE.match(value)
    return match.group(1) if match else None


def url_placeholders(url: str) -> list[str]:
    """The ``{name}`` placeholders of a URL template, in order of appearance."""
    return [m.group(1) for m in _PLACEHOLDER_RE.finditer(url)]


def _check_env_values(values: dict[str, str], what: str) -> dict[str, str]:
    # Never echo the value in the message: it may be the very secret we refuse to store.
    for key, value in values.items():
        if env_reference(value) is None:
            raise ValueError(f"{what} {key!r} must be an environment reference 'env:NAME' (secrets never live in tools.yaml)")
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ToolBase(_Strict):
    name: ToolName
    timeout_s: Timeout = DEFAULT_TIMEOUT_S


class PythonToolConfig(_ToolBase):
    """``kind: python``: a function in a module importable from the config dir."""

    kind: Literal["python"]
    target: str = Field(description="module:function")
    description: str | None = None

    @field_validator("target")
    @classmethod
    def _target_shape(cls, value: str) -> str:
        if not _TARGET_RE.match(value):
            raise ValueError("must be 'module:function' (for example 'tickets:lookup')")
        return value


class HttpToolConfig(_ToolBase):
    """``kind: http``: one HTTP endpoint; ``{name}`` placeholders in the URL come from arguments."""

    kind: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, Any] | None = None
    description: str = ""
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, gt=0, le=64 * 1024 * 1024)

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        if "@" in parts.netloc:
            raise ValueError("must not contain credentials (use headers with env: references)")
        if "{" in parts.netloc or "}" in parts.netloc:
            raise ValueError("placeholders may appear in the path and query only, never in the host or port")
        if "{" in parts.fragment or "}" in parts.fragment:
            raise ValueError("placeholders may appear in the path and query only")
        for name in url_placeholders(value):
            if not _IDENT_RE.match(name):
                raise ValueError(f"placeholder {{{name}}} must be a plain identifier like {{path}}")
        stripped = _PLACEHOLDER_RE.sub("", value)
        if "{" in stripped or "}" in stripped:
            raise ValueError("has an unbalanced '{' or '}'")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_from_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _HEADER_NAME_RE.match(key):
                raise ValueError(f"{key!r} is not a valid header name")
        return _check_env_values(value, "header")

    @field_validator("parameters")
    @classmethod
    def _parameters_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if value.get("type") != "object":
            raise ValueError("must be a JSON schema with 'type: object'")
        try:
            validator_for(value).check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _placeholders_are_parameters(self) -> HttpToolConfig:
        names = url_placeholders(self.url)
        if self.parameters is None:
            return self
        properties = self.parameters.get("properties") or {}
        required = set(self.parameters.get("required") or [])
        missing = [n for n in names if n not in properties or n not in required]
        if missing:
            raise ValueError(f"url placeholder(s) {', '.join('{' + n + '}' for n in missing)} must be required properties in parameters")
        return self

    def effective_parameters(self) -> dict[str, Any]:
        """``parameters``, or (when omitted) a schema requiring each URL placeholder as a string."""
        if self.parameters is not None:
            return self.parameters
        names = list(dict.fromkeys(url_placeholders(self.url)))
        return {
            "type": "object",
            "properties": {n: {"type": "string"} for n in names},
            "required": names,
            "additionalProperties": False,
        }


class McpToolConfig(_ToolBase):
    """``kind: mcp``: an MCP server over stdio (``command``, run in the config dir) or
    streamable HTTP (``url``); exactly one. Its tool ``t`` becomes ``<name>_<t>``."""

    kind: Literal["mcp"]
    command: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(default=None, min_length=1)
    url: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL naming a host")
        if "@" in parts.netloc:
            raise ValueError("must not contain credentials")
        return value

    @field_validator("env")
    @classmethod
    def _env_from_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _IDENT_RE.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return _check_env_values(value, "env")

    @model_validator(mode="after")
    def _exactly_one_transport(self) -> McpToolConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url is not None and self.env:
            raise ValueError("'env' applies to stdio servers ('command') only")
        return self


ToolConfig = Annotated[PythonToolConfig | HttpToolConfig | McpToolConfig, Field(discriminator="kind")]


def _normalise_host_entry(entry: str) -> str:
    """Lower-case, no trailing dot, IP literals in canonical form, IDNA for non-ASCII names."""
    host = entry.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{entry!r} is not a valid host name") from None
    labels = name.split(".")
    if not name or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise ValueError(f"{entry!r} must be a host name, an IP literal or '*.domain' (no scheme, port, path or bare '*')")
    if wildcard and len(labels) < 2:
        raise ValueError(f"{entry!r}: a wildcard needs a domain with at least two labels, like '*.example.com'")
    return f"*.{name}" if wildcard else name


class OutboundConfig(_Strict):
    """Where HTTP tools may connect. Exact host names, IP literals, or ``*.domain`` wildcards
    (subdomains only). Link-local and cloud-metadata addresses are refused regardless;
    loopback/private addresses only for exactly listed hosts."""

    allow_hosts: list[str] = Field(default_factory=list)

    @field_validator("allow_hosts")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        return [_normalise_host_entry(entry) for entry in value]


class ToolsFile(_Strict):
    tools: list[ToolConfig] = Field(default_factory=list)
    outbound: OutboundConfig = Field(default_factory=OutboundConfig)

    @field_validator("tools")
    @classmethod
    def _unique_names(cls, value: list[Any]) -> list[Any]:
        seen: dict[str, int] = {}
        for index, tool in enumerate(value):
            if tool.name in seen:
                raise ValueError(f"tools.{index}.name: duplicate tool name {tool.name!r} (already used by tools.{seen[tool.name]})")
            seen[tool.name] = index
        return value


def load_tools_config(path: Path) -> ToolsFile | None:
    """Parse ``tools.yaml``. Missing -> ``None``; malformed -> ``ConfigError`` naming the field."""
    return load_yaml_model(path, ToolsFile)
