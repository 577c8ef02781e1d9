"""The upstream pool in process: what a reload swaps and what it keeps, and retired clients
closing only after their runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from services.errors import GatewayError
from services.upstreams import UpstreamPool
from services.upstreams.config import display_url


def _file(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _entry(name: str, base_url: str = "http://127.0.0.1:9/v1", **extra: object) -> dict:
    return {"name": name, "base_url": base_url, "model": f"{name}-model", **extra}


def test_credentials_in_a_base_url_are_not_shown() -> None:
    assert display_url("https://bob:s3cret@llm.internal:8443/v1") == "https://llm.internal:8443/v1"
    assert display_url("http://tok@[::1]/v1") == "http://[::1]/v1"
    assert display_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


async def test_a_reload_keeps_unchanged_upstreams_and_replaces_the_rest(tmp_path: Path) -> None:
    path = _file(tmp_path / "upstreams.yaml", {"default": "keep", "upstreams": [_entry("keep"), _entry("change"), _entry("drop")]})
    pool = UpstreamPool.from_file(path, "m")
    keep, change, drop = (pool.get(n) for n in ("keep", "change", "drop"))
    _file(path, {"default": "keep", "upstreams": [_entry("keep"), _entry("change", timeout_s=7), _entry("new")]})
    done = await pool.reload()
    assert (done.added, done.changed, done.removed, done.count) == (("new",), ("change",), ("drop",), 3)
    assert pool.get("keep") is keep  # same clients, connections and health state
    assert pool.get("change") is not change and pool.get("change").config.timeout_s == 7
    await asyncio.sleep(0.05)  # retired upstreams with no run in flight are closed by a task
    assert change.client.is_closed() and drop.client.is_closed() and not keep.client.is_closed()
    with pytest.raises(GatewayError) as gone:
        pool.get("drop")
    assert (gone.value.status, gone.value.reason, gone.value.metadata) == ("FAILED_PRECONDITION", "UPSTREAM_NOT_CONFIGURED", {"upstream": "drop"})
    assert "'drop' is not configured" in gone.value.message
    generation = pool.generation
    assert (await pool.reload()).changed == () and pool.generation == generation  # nothing changed: nothing bumped
    await pool.aclose()


async def test_a_malformed_file_is_rejected_and_the_old_upstreams_stay(tmp_path: Path) -> None:
    path = _file(tmp_path / "upstreams.yaml", {"upstreams": [_entry("a")]})
    pool = UpstreamPool.from_file(path, "m")
    before = pool.get("a")
    path.write_text("upstreams:\n  - name: a\n    base_url: http://127.0.0.1:9/v1\n    timeout_s: -1\n")
    with pytest.raises(GatewayError) as rejected:
        await pool.reload()
    assert (rejected.value.status, rejected.value.reason) == ("INVALID_ARGUMENT", "UPSTREAMS_CONFIG_INVALID")
    assert "upstreams.0.timeout_s" in rejected.value.message and rejected.value.metadata == {"path": str(path)}
    assert pool.get("a") is before and not before.client.is_closed()
    assert pool.rejected is not None and "timeout_s" in pool.rejected.message
    path.write_text("upstreams: [\n")  # not YAML at all
    with pytest.raises(GatewayError, match="not valid YAML"):
        await pool.reload()
    _file(path, {"upstreams": [_entry("a")]})
    await pool.reload()
    assert pool.rejected is None and pool.get("a") is before
    await pool.aclose()


async def test_a_retired_upstream_is_closed_only_after_its_last_run(tmp_path: Path) -> None:
    path = _file(tmp_path / "upstreams.yaml", {"upstreams": [_entry("busy")]})
    pool = UpstreamPool.from_file(path, "m")
    first, second = pool.acquire("busy"), pool.acquire("busy")
    _file(path, {"upstreams": [_entry("other")]})
    await pool.reload()
    pool.release(first)
    await asyncio.sleep(0.05)
    assert not second.client.is_closed()  # one run still uses it
    pool.release(second)
    await asyncio.sleep(0.05)
    assert second.client.is_closed()
    await pool.aclose()
