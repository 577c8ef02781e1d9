"""Hot reload: rescan the catalogue when files under the agents folder or agents.yaml change."""

from __future__ import annotations

import asyncio
from pathlib import Path

from watchfiles import Change, awatch

from services.log import get_logger
from services.registry.catalog import AgentCatalog

__all__ = ["watch_catalog"]

log = get_logger("registry")


async def watch_catalog(catalog: AgentCatalog, agents_dir: Path, agents_config: Path, stop: asyncio.Event) -> None:
    """Refresh ``catalog`` after each burst of relevant changes until ``stop`` is set."""
    roots = [p for p in (agents_dir, agents_config.parent) if p.exists()]
    if not roots:
        log.warning("hot reload: nothing to watch", extra={"fields": {"agents_dir": str(agents_dir)}})
        return

    def relevant(change: Change, path: str) -> bool:
        # Directory events count too: a new agent folder whose agent.py was written before the
        # watcher had added the folder (a race inherent to recursive inotify) is seen this way.
        p = Path(path)
        return "__pycache__" not in p.parts and p.suffix not in (".pyc", ".swp", ".tmp") and not p.name.endswith("~")

    log.info("hot reload: watching", extra={"fields": {"paths": [str(r) for r in roots]}})
    async for changes in awatch(*roots, watch_filter=relevant, stop_event=stop, debounce=300, recursive=True):
        log.info("hot reload: files changed", extra={"fields": {"files": sorted({Path(p).name for _, p in changes})}})
        try:
            await catalog.refresh(retry_failed=False)
        except Exception as exc:
            log.error("hot reload: refresh failed", exc_info=exc)
