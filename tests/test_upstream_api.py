"""Which API an upstream speaks (`api` in upstreams.yaml): its default by provider, and the
SDK model a drop-in then runs with (in-process, no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config_files import ConfigError
from services.executor.routing import UpstreamModelProvider
from services.executor.upstream_models import ChatModel, ResponsesModel
from services.upstreams import UpstreamConfig, UpstreamPool, UpstreamsFile, load_upstreams


@pytest.mark.parametrize(
    ("base_url", "api"),
    [
        ("https://api.openai.com/v1", "responses"),
        ("https://api.openai.com", "responses"),
        ("http://127.0.0.1:11434/v1", "chat_completions"),  # Ollama
        ("https://my-vllm.internal/v1", "chat_completions"),
        ("https://api.openai.com.evil.example/v1", "chat_completions"),  # the host, not a prefix, decides
        ("https://example.com/api.openai.com/v1", "chat_completions"),
    ],
)
def test_api_defaults_by_provider(base_url: str, api: str) -> None:
    assert UpstreamConfig(name="u", base_url=base_url).api == api


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
def test_an_api_written_in_the_file_is_kept(api: str) -> None:
    assert UpstreamConfig(name="u", base_url="https://api.openai.com/v1", api=api).api == api  # type: ignore[arg-type]
    assert UpstreamConfig(name="u", base_url="http://127.0.0.1:8000/v1", api=api).api == api  # type: ignore[arg-type]


def test_an_unknown_api_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "upstreams.yaml"
    path.write_text("upstreams:\n  - name: local\n    base_url: http://127.0.0.1:8000/v1\n    api: completions\n")
    with pytest.raises(ConfigError, match=r"upstreams\.0\.api"):
        load_upstreams(path, "m")


def test_the_env_default_upstream_speaks_responses_only_on_the_openai_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert load_upstreams(tmp_path / "missing.yaml", "gpt-4.1-mini").upstreams[0].api == "responses"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8100/v1")
    assert load_upstreams(tmp_path / "missing.yaml", "demo").upstreams[0].api == "chat_completions"


def test_resolve_follows_the_default_then_the_first_entry() -> None:
    a, b = UpstreamConfig(name="a", base_url="http://127.0.0.1:1/v1"), UpstreamConfig(name="b", base_url="http://127.0.0.1:2/v1")
    assert UpstreamsFile(upstreams=[a, b]).resolve(None) == a
    assert UpstreamsFile(default="b", upstreams=[a, b]).resolve(None) == b
    assert UpstreamsFile(default="b", upstreams=[a, b]).resolve("a") == a
    assert UpstreamsFile(upstreams=[a, b]).resolve("missing") is None


@pytest.mark.parametrize(("api", "model_type"), [("chat_completions", ChatModel), ("responses", ResponsesModel)])
def test_the_upstreams_api_picks_the_sdk_model(api: str, model_type: type) -> None:
    config = UpstreamConfig(name="u", base_url="http://127.0.0.1:9/v1", model="m", api=api)  # type: ignore[arg-type]
    provider = UpstreamModelProvider(UpstreamPool(UpstreamsFile(upstreams=[config])).get("u"))
    assert type(provider.get_model(None)) is model_type
