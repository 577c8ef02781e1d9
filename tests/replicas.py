"""Several gateway replicas on loopback sharing one Redis (GATEWAY_STATE_URL), as a scaled-out
deployment runs them behind a load balancer: the same agents folder and config, each its own
ports, data dir and log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import E2E_AGENTS, GATEWAY_ENV, KEYS, UPSTREAM_KEY, write_config
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import GatewayProcess, make_agents_dir

__all__ = ["replicas"]


@contextmanager
def replicas(root: Path, upstream: FakeUpstream, state_url: str, count: int = 2, env_extra: dict[str, str] | None = None) -> Iterator[list[GatewayProcess]]:
    """``count`` started replicas sharing ``state_url``; stopped (and their logs checked for
    key material) on exit."""
    agents_dir = make_agents_dir(root / "agents", [E2E_AGENTS])
    config_dir = write_config(root / "config", upstream)
    env = {**GATEWAY_ENV, "FAKE_UPSTREAM_KEY": UPSTREAM_KEY, "GATEWAY_STATE_URL": state_url, **(env_extra or {})}
    started: list[GatewayProcess] = []
    try:
        for n in range(count):
            (root / f"replica-{n}").mkdir(parents=True, exist_ok=True)
            started.append(GatewayProcess(agents_dir, config_dir, root / f"replica-{n}" / "gateway.log", env_extra=env).start())
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            log = process.log_text()
            for secret in (*KEYS.values(), UPSTREAM_KEY):
                assert secret not in log, "key material in a replica's log"
