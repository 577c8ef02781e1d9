"""The "no security.yaml" start: a generated admin key, shown once, and loopback only.

One process generates the key: the gateway itself, or with several workers the supervising
parent, which passes the workers its digest (never the key) so that every worker accepts it.
"""

from __future__ import annotations

from services.log import get_logger
from services.settings import GatewaySettings

__all__ = ["LOOPBACK_HOSTS", "announce_generated_key"]

log = get_logger("server")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def announce_generated_key(settings: GatewaySettings, key: str) -> GatewaySettings:
    """Print ``key`` once and return the settings narrowed to loopback."""
    if settings.host not in LOOPBACK_HOSTS:
        log.warning("no security.yaml: binding to loopback only", extra={"fields": {"requested_host": settings.host}})
        settings = settings.model_copy(update={"host": "127.0.0.1"})
    # Shown once, on stdout, never logged: the operator's way in until security.yaml exists.
    print(
        f"\nagent-gateway: no {settings.config_file('security')} found, so an admin key was generated for this run:\n\n"
        f"    {key}\n\n"
        "  Use it as 'Authorization: Bearer <key>' (HTTP) or 'authorization: Bearer <key>' metadata (gRPC).\n"
        "  The gateway listens on loopback only until a security.yaml exists (see docs/security.md).\n",
        flush=True,
    )
    return settings
