"""Hot reload for packages: refresh the catalogue when pip installs into this interpreter's
site-packages while an agent waits for a package, so ``agent-gateway agents install-deps``
takes effect without a restart. Runs beside the agents-folder watcher (watch.py) when
``GATEWAY_AGENT_WATCH=1``.

Only the top level of site-packages is watched (not recursive: a handful of inotify watches,
not one per package folder), and only ``*.dist-info`` / ``.egg-info`` / ``.pth`` entries count:
pip writes a distribution's dist-info after its files (wheels put it last), so when it appears
the package imports.
"""

from __future__ import annotations

import asyncio
import os
import sysconfig
from collections.abc import Awaitable
from pathlib import Path

from watchfiles import Change, awatch

from services.log import get_logger
from services.registry.catalog import AgentCatalog
from services.registry.requirements import REQUIREMENTS_NOT_MET

__all__ = ["also_installs", "watch_installs"]

log = get_logger("registry")

# Why an agent waits for a package: requirements.txt unmet, or an import that found no module.
_WAITING_FOR_PACKAGES = frozenset({REQUIREMENTS_NOT_MET, "ModuleNotFoundError"})
# One install adds several entries: refresh once pip has been quiet this long.
_QUIET_MS = 750


def _installed_or_removed(change: Change, path: str) -> bool:
    return path.endswith((".dist-info", ".egg-info", ".egg-link", ".pth"))


def _site_packages() -> list[str]:
    """Where ``python -m pip install`` puts packages for this interpreter."""
    return sorted({p for p in (sysconfig.get_path("purelib"), sysconfig.get_path("platlib")) if p and os.path.isdir(p)})


async def watch_installs(catalog: AgentCatalog, stop: asyncio.Event) -> None:
    """Refresh ``catalog`` after each install or uninstall while some agent waits for a package, until ``stop`` is set."""
    roots = await asyncio.to_thread(_site_packages)
    if not roots:
        return
    async for changes in awatch(*roots, watch_filter=_installed_or_removed, stop_event=stop, step=_QUIET_MS, debounce=10_000, recursive=False):
        if not any(d.error_type in _WAITING_FOR_PACKAGES for d in catalog.diagnostics):
            continue
        log.info("hot reload: packages installed", extra={"fields": {"entries": sorted({Path(p).name for _, p in changes})}})
        try:
            await catalog.refresh()
        except Exception as exc:
            log.error("hot reload: refresh failed", exc_info=exc)


async def also_installs(watch: Awaitable[None], catalog: AgentCatalog, stop: asyncio.Event) -> None:
    """``watch`` (the agents-folder watcher) and ``watch_installs`` side by side, until ``stop`` is set."""
    await asyncio.gather(watch, watch_installs(catalog, stop))
