"""What ``agent-gateway keys create`` prints: a fresh key and the ``api_keys`` entry for it.

Only the digest goes into the YAML, so ``security.yaml`` can be committed or shared without
leaking the key; the plaintext is shown once to whoever ran the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from services.security.config import ApiKey
from services.security.keys import ADMIN_ROLE, generate_key, hash_key

__all__ = ["create_key_entry"]


def create_key_entry(
    key_id: str,
    admin: bool = False,
    models: Sequence[str] = ("*",),
    tools: Sequence[str] = ("*",),
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
) -> tuple[str, str]:
    """Return ``(plaintext key, YAML list item)``; the item pastes under ``api_keys:`` as is.

    Raises ValueError (naming the field) for an invalid id, pattern or limit, before any key is shown.
    """
    key = generate_key()
    entry: dict[str, Any] = {
        "id": key_id,
        "sha256": hash_key(key),
        "roles": [ADMIN_ROLE] if admin else [],
        "models": list(models),
        "tools": list(tools),
    }
    limits = {name: value for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)) if value is not None}
    if limits:
        entry["rate_limit"] = limits
    try:
        ApiKey.model_validate(entry)  # the snippet must load: validate with the same model the gateway uses
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors())
        raise ValueError(problems) from None
    # Flow style for the short lists (`models: ['*']`), block style for the entry itself.
    snippet = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None, width=1000)
    return key, snippet
