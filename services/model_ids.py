"""Model-id rules for agents (docs/agents.md, "Drop-ins").

``agents/<Name>/agent.py`` -> ``default/<name>``; ``agents/<ns>/<Name>/agent.py`` -> ``<ns>/<name>``;
deeper folders join with ``/``. Each path segment is lower-cased and every character outside
``[a-z0-9._-]`` becomes ``-``.
"""

from __future__ import annotations

import re
from pathlib import PurePath

__all__ = [
    "AGENT_MODULE",
    "DEFAULT_NAMESPACE",
    "MODEL_ID_PATTERN",
    "bare_name",
    "model_id_for",
    "namespace_of",
    "sanitise_segment",
]

AGENT_MODULE = "agent.py"
DEFAULT_NAMESPACE = "default"
MODEL_ID_PATTERN = r"^[a-z0-9._-]+(/[a-z0-9._-]+)*$"

_BAD_CHARS_RE = re.compile(r"[^a-z0-9._-]")


def sanitise_segment(segment: str) -> str:
    """One path segment as a model-id segment: lower-cased, odd characters become ``-``."""
    return _BAD_CHARS_RE.sub("-", segment.lower())


def model_id_for(relative_path: PurePath) -> str:
    """The model id of the drop-in at ``relative_path`` (relative to the agents dir).

    Accepts the module path (``Weather/agent.py``) or its folder (``Weather``).
    """
    path = PurePath(relative_path)
    parts = list(path.parts)
    if parts and parts[-1] == AGENT_MODULE:
        parts.pop()
    if path.is_absolute() or not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"{relative_path}: an agent module must live in agents/<Name>/{AGENT_MODULE}")
    segments = [sanitise_segment(p) for p in parts]
    if len(segments) == 1:
        segments.insert(0, DEFAULT_NAMESPACE)
    return "/".join(segments)


def namespace_of(model_id: str) -> str:
    """Everything before the last ``/``; ids without one are in the default namespace."""
    namespace, sep, _ = model_id.rpartition("/")
    return namespace if sep else DEFAULT_NAMESPACE


def bare_name(model_id: str) -> str | None:
    """The name an agent of the default namespace also answers to (``default/weather`` ->
    ``weather``): clients such as the Agents SDK read ``default/`` as a provider prefix."""
    namespace, sep, rest = model_id.partition("/")
    return rest if sep and namespace == DEFAULT_NAMESPACE and "/" not in rest else None
