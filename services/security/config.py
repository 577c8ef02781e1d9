"""The ``security.yaml`` schema (a public contract: docs/security.md, "config/security.yaml").

Extra keys are forbidden everywhere so a typo (``model:`` for ``models:``) is a start-up error
instead of a silently wider or narrower policy. Validation messages name the field; the file
name is added by ``services.config_files.load_yaml_model``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.config_files import load_yaml_model

__all__ = [
    "ENV_NAME_PATTERN",
    "KEY_ID_PATTERN",
    "SHA256_PATTERN",
    "ApiKey",
    "Modules",
    "NamespaceDefaults",
    "RateLimit",
    "SecurityFile",
    "load_security",
]

KEY_ID_PATTERN = r"^[A-Za-z0-9._-]+$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

_KEY_ID_RE = re.compile(KEY_ID_PATTERN)
_SHA256_RE = re.compile(SHA256_PATTERN)
_ENV_NAME_RE = re.compile(ENV_NAME_PATTERN)

# An fnmatch pattern: non-empty, no surrounding whitespace (" default/*" would never match).
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S(.*\S)?$")]


class _Strict(BaseModel):
    # frozen: a loaded policy is shared by concurrent requests and must not change under them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """Per-key limits; each one optional. Zero is not "unlimited": leave the field out instead."""

    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)

    @property
    def is_unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None


class ApiKey(_Strict):
    """One ``api_keys`` entry. ``models``/``tools`` default to none: access is granted, not assumed."""

    id: str
    sha256: str | None = None
    env: str | None = None
    roles: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(default_factory=list)
    models: list[Pattern] = Field(default_factory=list)
    tools: list[Pattern] = Field(default_factory=list)
    rate_limit: RateLimit | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _KEY_ID_RE.match(value):
            raise ValueError(f"{value!r} is not a valid key id (letters, digits, '.', '_' and '-' only)")
        return value

    @field_validator("sha256")
    @classmethod
    def _check_sha256(cls, value: str | None) -> str | None:
        # Lowercase only: `hash_key` and `sha256sum` both print lowercase, and one spelling per
        # digest keeps the duplicate check below honest.
        if value is not None and not _SHA256_RE.match(value):
            raise ValueError("must be a SHA-256 hex digest: 64 lowercase hex characters")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ApiKey:
        if (self.sha256 is None) == (self.env is None):
            raise ValueError(f"key {self.id!r}: set exactly one of 'sha256' or 'env'")
        return self


class Modules(_Strict):
    """Which drop-in agents may be imported at all. ``deny`` wins over ``allow``."""

    allow: list[Pattern] = Field(default_factory=lambda: ["*"])
    deny: list[Pattern] = Field(default_factory=list)


class NamespaceDefaults(_Strict):
    """What a key gets in a namespace its own ``models`` patterns do not name at all."""

    models: Literal["allow", "deny"]


class SecurityFile(_Strict):
    api_keys: list[ApiKey] = Field(default_factory=list)
    modules: Modules = Field(default_factory=Modules)
    namespaces: dict[Annotated[str, StringConstraints(min_length=1)], NamespaceDefaults] = Field(default_factory=dict)

    @field_validator("api_keys")
    @classmethod
    def _unique(cls, keys: list[ApiKey]) -> list[ApiKey]:
        seen_ids: set[str] = set()
        seen_digests: dict[str, str] = {}
        for key in keys:
            if key.id in seen_ids:
                raise ValueError(f"duplicate key id {key.id!r}")
            seen_ids.add(key.id)
            # Two ids for one digest would make "which key was used" ambiguous in the audit trail.
            if key.sha256 is not None:
                if key.sha256 in seen_digests:
                    raise ValueError(f"keys {seen_digests[key.sha256]!r} and {key.id!r} have the same sha256")
                seen_digests[key.sha256] = key.id
        return keys


def load_security(path: Path) -> SecurityFile | None:
    """Parse ``security.yaml``. ``None`` means the file is missing (the generated-admin case).

    Raises ``services.config_files.ConfigError`` naming the file and field when it is malformed.
    """
    return load_yaml_model(Path(path), SecurityFile)
