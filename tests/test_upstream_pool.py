"""The upstream pool in process: how upstreams.yaml decides each upstream's health check, what a
reload swaps and what it keeps, retired clients closing only after their runs, and the health
state a real HTTP server (started, stopped, started again) moves through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from yarl import URL

from services.config_files import ConfigError
from services.errors import GatewayError
from services.upstreams import UpstreamConfig, UpstreamPool, UpstreamsFile, load_upstreams
from services.upstreams.config import display_url
from services.upstreams.health import HealthChecker
from tests.fake_upstream import FakeUpstream


def _file(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _entry(name: str, base_url: str = "http://127.0.0.1:9/v1", **extra: object) -> dict:
    return {"name": name, "base_url": base_url, "model": f"{name}-model", **extra}


def test_checks_are_on_by_default_only_for_upstreams_without_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOL_TEST_KEY", "sk-pool-test")
    monkeypatch.delenv("POOL_TEST_UNSET", raising=False)
    config = load_upstreams(
        _file(
            tmp_path / "upstreams.yaml",
            {
                "upstreams": [
                    _entry("local"),
                    _entry("hosted", api_key_env="POOL_TEST_KEY"),
                    _entry("unset", api_key_env="POOL_TEST_UNSET"),  # names a variable that holds nothing: no key
                    _entry("opted-in", api_key_env="POOL_TEST_KEY", health_check={"enabled": True}),
                    _entry("opted-out", health_check=False),
                ]
            },
        ),
        "m",
    )
    enabled = {u.name: config.health_check_of(u).enabled for u in config.upstreams}
    assert enabled == {"local": True, "hosted": False, "unset": True, "opted-in": True, "opted-out": False}


def test_an_upstreams_own_check_fields_replace_the_files_one_by_one(tmp_path: Path) -> None:
    config = load_upstreams(
        _file(
            tmp_path / "upstreams.yaml",
            {
                "health_check": {"interval_s": 10, "path": "/health", "unhealthy_threshold": 3},
                "upstreams": [_entry("a"), _entry("b", health_check={"interval_s": 2}), _entry("c", health_check=False)],
            },
        ),
        "m",
    )
    a, b, c = (config.health_check_of(u) for u in config.upstreams)
    assert (a.interval_s, a.path, a.unhealthy_threshold, a.timeout_s, a.enabled) == (10, "/health", 3, 5.0, True)
    assert (b.interval_s, b.path, b.unhealthy_threshold) == (2, "/health", 3)
    assert (c.enabled, c.interval_s) == (False, 10)
    # `health_check: false` at the top turns every check off, unless an upstream turns its own on.
    off = load_upstreams(_file(tmp_path / "off.yaml", {"health_check": False, "upstreams": [_entry("a"), _entry("b", health_check=True)]}), "m")
    assert [off.health_check_of(u).enabled for u in off.upstreams] == [False, True]


@pytest.mark.parametrize(
    ("check", "field"),
    [({"path": "models"}, "path"), ({"interval_s": 0}, "interval_s"), ({"unhealthy_threshold": 0}, "unhealthy_threshold"), ({"every": 3}, "every")],
)
def test_a_bad_health_check_is_a_config_error_naming_the_field(tmp_path: Path, check: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"upstreams\.0\.health_check\.{field}"):
        load_upstreams(_file(tmp_path / "upstreams.yaml", {"upstreams": [_entry("a", health_check=check)]}), "m")


def test_the_sample_in_the_docs_is_a_valid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    sample = page.split("## `config/upstreams.yaml`", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "upstreams.yaml").write_text(sample)
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    config = load_upstreams(tmp_path / "upstreams.yaml", "m")
    check = config.health_check_of(config.upstreams[0])
    assert (check.enabled, check.interval_s, check.timeout_s, check.path, check.unhealthy_threshold) == (True, 10, 5, "/models", 2)
    monkeypatch.setenv("OLLAMA_API_KEY", "k")
    assert config.health_check_of(config.upstreams[0]).enabled is False  # `auto` with a key


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
    pool.release(first, "ok")
    await asyncio.sleep(0.05)
    assert not second.client.is_closed()  # one run still uses it
    pool.release(second, "upstream_error")
    await asyncio.sleep(0.05)
    assert second.client.is_closed()
    await pool.aclose()


def _up(name: str) -> float | None:
    return REGISTRY.get_sample_value("agentgateway_upstream_up", {"upstream": name})


@pytest.fixture
def server() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


async def test_health_follows_a_real_server_going_down_and_back(tmp_path: Path, server: FakeUpstream) -> None:
    name = "pool-health-1"
    check = {"unhealthy_threshold": 2, "timeout_s": 1}
    pool = UpstreamPool(UpstreamsFile(upstreams=[UpstreamConfig.model_validate(_entry(name, server.base_url, health_check=check))]))
    upstream = pool.get(name)
    assert upstream.health is not None and upstream.health.state == "unknown" and _up(name) is None
    url = URL(server.base_url + "/models")

    async def probe(timeout_s: float) -> int:
        return await upstream.lean.probe(url, upstream.auth_headers, timeout_s)

    # The pool's own loop is not started (pool.start()): each check is run by hand.
    checks = HealthChecker(upstream.health, probe)
    await checks.check()
    assert upstream.health.state == "healthy" and _up(name) == 1 and upstream.health.last_check is not None
    assert server.requests[-1].path == "/v1/models" and server.requests[-1].method == "GET"
    server.stop()
    await checks.check()
    assert (upstream.health.state, upstream.health.failures) == ("healthy", 1)  # one failure is not yet "down"
    await checks.check()
    assert upstream.health.state == "unhealthy" and _up(name) == 0
    assert upstream.health.last_error == "cannot connect (ECONNREFUSED)"
    with pytest.raises(GatewayError) as down:
        pool.acquire(name)
    assert (down.value.status, down.value.reason, down.value.metadata["upstream"]) == ("UNAVAILABLE", "UPSTREAM_DOWN", name)
    assert f"upstream {name!r} is down" in down.value.message and "ECONNREFUSED" in down.value.message
    assert down.value.retry_after_s == 30
    server.start()  # the same port again
    await checks.check()
    assert (upstream.health.state, upstream.health.failures, _up(name)) == ("healthy", 0, 1)
    assert upstream.health.last_error == "cannot connect (ECONNREFUSED)"  # kept, with its time, after recovery
    pool.release(pool.acquire(name), "ok")
    await pool.aclose()


async def test_a_5xx_fails_a_check_and_a_request_that_succeeds_marks_the_upstream_up(server: FakeUpstream) -> None:
    name = "pool-health-2"
    pool = UpstreamPool(UpstreamsFile(upstreams=[UpstreamConfig.model_validate(_entry(name, server.base_url, health_check={"unhealthy_threshold": 1}))]))
    upstream = pool.get(name)
    assert upstream.health is not None
    statuses = iter([503, 404])
    checks = HealthChecker(upstream.health, lambda timeout_s: asyncio.sleep(0, next(statuses)))
    await checks.check()
    assert (upstream.health.state, upstream.health.last_error) == ("unhealthy", "HTTP 503")
    await checks.check()
    assert upstream.health.state == "healthy"  # a 404 is an answer: the server is up
    upstream.health.state = "unknown"
    pool.release(pool.acquire(name), "ok")
    assert upstream.health.state == "healthy"
    await pool.aclose()


async def test_the_pools_own_checks_run_on_their_interval(server: FakeUpstream) -> None:
    name = "pool-health-3"
    pool = UpstreamPool(UpstreamsFile(upstreams=[UpstreamConfig.model_validate(_entry(name, server.base_url, health_check={"interval_s": 0.05}))]))
    pool.start()
    await server.wait_for_async(lambda: len([r for r in server.requests if r.path == "/v1/models"]) >= 3, timeout=5)
    assert pool.get(name).health.state == "healthy"  # type: ignore[union-attr]
    await pool.aclose()
    count = len(server.requests)
    await asyncio.sleep(0.2)
    assert len(server.requests) == count  # closed: no more checks
