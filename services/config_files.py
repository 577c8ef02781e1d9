"""Load YAML config files into pydantic models with messages that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["ConfigError", "load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file exists but cannot be used. The message names the file and field."""


def load_yaml_model(path: Path, model: type[M]) -> M | None:
    """Parse ``path`` into ``model``. A missing file means "none of that kind": ``None``."""
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
