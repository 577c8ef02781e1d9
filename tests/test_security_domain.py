"""Unit tests for the security domain: config, keys, policy, overrides, rate limits, audit, key creation."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.config_files import ConfigError
from services.errors import GatewayError
from services.log import JsonFormatter
from services.security.audit import AuditEvent, AuditLog
from services.security.config import RateLimit, SecurityFile, load_security
from services.security.keys import GENERATED_ADMIN_ID, KeyRing, Principal, generate_key, hash_key
from services.security.keys_cli import create_key_entry
from services.security.overrides import InMemoryOverrideStore, Override, new_override, override_id_from_name
from services.security.policy import Decision, Policy, pattern_names_namespace
from services.security.ratelimit import InMemoryRateLimitStore, RateLimiter

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "security.yaml"
    path.write_text(text)
    return path


def principal(
    key_id: str = "ops", models: tuple[str, ...] = (), tools: tuple[str, ...] = (), roles: frozenset[str] = frozenset(), rate_limit: RateLimit | None = None
) -> Principal:
    return Principal(key_id=key_id, roles=roles, models=models, tools=tools, rate_limit=rate_limit)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------- config


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert load_security(tmp_path / "nope.yaml") is None


def test_full_file_loads(tmp_path: Path) -> None:
    digest = hash_key("k1")
    path = write(
        tmp_path,
        f"""
api_keys:
  - id: ops
    sha256: "{digest}"
    roles: [admin]
    models: ["*"]
    tools: ["*"]
    rate_limit: {{requests_per_minute: 600, tokens_per_minute: 200000}}
  - id: ci.bot
    env: GATEWAY_CI_KEY
modules: {{allow: ["*"], deny: ["labs/*"]}}
namespaces:
  labs: {{models: deny}}
""",
    )
    file = load_security(path)
    assert file is not None
    assert [k.id for k in file.api_keys] == ["ops", "ci.bot"]
    assert file.api_keys[0].rate_limit == RateLimit(requests_per_minute=600, tokens_per_minute=200000)
    assert file.api_keys[1].models == []  # nothing granted unless named
    assert file.modules.deny == ["labs/*"]
    assert file.namespaces["labs"].models == "deny"


def test_empty_file_is_an_empty_policy(tmp_path: Path) -> None:
    file = load_security(write(tmp_path, ""))
    assert file == SecurityFile()
    assert file.modules.allow == ["*"]


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("api_keys: [{id: ops, sha256: ABC}]", "api_keys.0.sha256", "64 lowercase hex"),
        (f"api_keys: [{{id: ops, sha256: '{'A' * 64}'}}]", "api_keys.0.sha256", "lowercase"),
        (f"api_keys: [{{id: 'bad id', sha256: '{'a' * 64}'}}]", "api_keys.0.id", "not a valid key id"),
        ("api_keys: [{id: ops}]", "api_keys.0", "exactly one of 'sha256' or 'env'"),
        (f"api_keys: [{{id: ops, env: X, sha256: '{'a' * 64}'}}]", "api_keys.0", "exactly one"),
        (f"api_keys: [{{id: ops, sha256: '{'a' * 64}'}}, {{id: ops, sha256: '{'b' * 64}'}}]", "api_keys", "duplicate key id 'ops'"),
        (f"api_keys: [{{id: a, sha256: '{'a' * 64}'}}, {{id: b, sha256: '{'a' * 64}'}}]", "api_keys", "same sha256"),
        (f"api_keys: [{{id: ops, sha256: '{'a' * 64}', model: ['*']}}]", "api_keys.0.model", "Extra inputs"),
        (
            f"api_keys: [{{id: ops, sha256: '{'a' * 64}', rate_limit: {{requests_per_minute: 0}}}}]",
            "api_keys.0.rate_limit.requests_per_minute",
            "greater than 0",
        ),
        ("api_keys: [{id: ops, env: '1BAD'}]", "api_keys.0.env", "environment variable name"),
        ("namespaces: {labs: {models: maybe}}", "namespaces.labs.models", "'allow' or 'deny'"),
        ("modules: {allow: ['*'], deny: [], extra: 1}", "modules.extra", "Extra inputs"),
        ("api_keys: [\n  - id: ops\n    sha256: [", "", "not valid YAML"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_security(path)
    message = str(info.value)
    assert str(path) in message
    assert f"{field}:" in message
    assert fragment in message


# ---------------------------------------------------------------------------- keys


def test_generated_key_shape_and_hash() -> None:
    key = generate_key()
    assert key.startswith("agw_") and len(key) > 40
    assert generate_key() != key
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def keyring(environ: dict[str, str]) -> KeyRing:
    file = SecurityFile.model_validate(
        {
            "api_keys": [
                {"id": "ops", "sha256": hash_key("ops-secret"), "roles": ["admin"], "models": ["*"], "tools": ["*"], "rate_limit": {"requests_per_minute": 5}},
                {"id": "ci", "env": "GATEWAY_CI_KEY", "models": ["default/*"]},
                {"id": "other", "env": "GATEWAY_OTHER_KEY", "models": ["default/*"]},
            ]
        }
    )
    return KeyRing.from_config(file, environ=environ)


def test_sha256_and_env_keys_authenticate() -> None:
    ring = keyring({"GATEWAY_CI_KEY": "ci-secret", "GATEWAY_OTHER_KEY": "other-secret"})
    ops = ring.authenticate("ops-secret")
    assert ops is not None and ops.key_id == "ops" and ops.is_admin
    assert ops.models == ("*",) and ops.rate_limit == RateLimit(requests_per_minute=5)
    ci = ring.authenticate("ci-secret")
    assert ci is not None and ci.key_id == "ci" and not ci.is_admin and ci.models == ("default/*",)
    assert ci.rate_limit is None
    assert ring.authenticate("other-secret").key_id == "other"
    assert len(ring) == 3 and ring.principal("ci") == ci


@pytest.mark.parametrize(
    "presented",
    [None, "", "ops-secret ", "OPS-SECRET", "wrong", "ops-secret\x00", "x" * 4097, "ops-sécret", "ключ", "\n", 12345],
)
def test_bad_keys_never_authenticate_and_never_raise(presented: object) -> None:
    ring = keyring({"GATEWAY_CI_KEY": "ci-secret", "GATEWAY_OTHER_KEY": "other-secret"})
    assert ring.authenticate(presented) is None  # type: ignore[arg-type]


def test_huge_key_is_not_hashed_even_if_configured() -> None:
    long_key = "k" * 5000
    file = SecurityFile.model_validate({"api_keys": [{"id": "big", "sha256": hash_key(long_key)}]})
    assert KeyRing.from_config(file, environ={}).authenticate(long_key) is None
    assert KeyRing.from_config(file, environ={}).authenticate("k" * 4096) is None


def test_missing_env_var_disables_only_that_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agentgateway.security"):
        ring = keyring({"GATEWAY_OTHER_KEY": "other-secret"})
    assert ring.authenticate("ops-secret").key_id == "ops"
    assert ring.authenticate("other-secret").key_id == "other"
    assert ring.authenticate("") is None
    assert ring.principal("ci") is None and len(ring) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == "API key disabled"
    assert warnings[0].fields == {"key_id": "ci", "env": "GATEWAY_CI_KEY", "problem": "environment variable not set"}  # type: ignore[attr-defined]
    assert "other-secret" not in caplog.text


def test_env_key_value_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        ring = keyring({"GATEWAY_CI_KEY": "bad\x00value", "GATEWAY_OTHER_KEY": "other-secret"})
    assert ring.principal("ci") is None  # unusable value: disabled like a missing one
    assert "bad\x00value" not in caplog.text and "other-secret" not in caplog.text


def test_generated_admin_ring() -> None:
    ring, key = KeyRing.generated_admin()
    assert key.startswith("agw_")
    admin = ring.authenticate(key)
    assert admin is not None
    assert admin.key_id == GENERATED_ADMIN_ID and admin.is_admin
    assert admin.models == ("*",) and admin.tools == ("*",)
    assert ring.authenticate(generate_key()) is None
    assert len(ring) == 1


def test_no_file_means_no_keys() -> None:
    assert len(KeyRing.from_config(None)) == 0
    assert KeyRing.from_config(None).authenticate("anything") is None


# ---------------------------------------------------------------------------- policy


def make_policy(namespaces: dict[str, str] | None = None, modules: dict[str, list[str]] | None = None) -> tuple[Policy, InMemoryOverrideStore]:
    data: dict[str, object] = {"namespaces": {ns: {"models": v} for ns, v in (namespaces or {}).items()}}
    if modules is not None:
        data["modules"] = modules
    store = InMemoryOverrideStore(clock=lambda: T0)
    return Policy(SecurityFile.model_validate(data), store), store


async def test_star_allows_everything() -> None:
    policy, _ = make_policy()
    p = principal(models=("*",), tools=("*",))
    assert await policy.decide(p, "use_model", "labs/x", now=T0) == Decision(True, "key:ops models[0]='*'", "key 'ops' may use model 'labs/x'")
    decision = await policy.decide(p, "use_tool", "fetch_doc", now=T0)
    assert decision.allowed and decision.policy == "key:ops tools[0]='*'"


async def test_namespace_pattern_and_inner_wildcards() -> None:
    policy, _ = make_policy()
    p = principal(models=("default/*", "labs/*planner*"), tools=("calc_*",))
    assert (await policy.decide(p, "use_model", "default/weather", now=T0)).policy == "key:ops models[0]='default/*'"
    ok = await policy.decide(p, "use_model", "labs/trip-planner-v2", now=T0)
    assert ok.allowed and ok.policy == "key:ops models[1]='labs/*planner*'"
    no = await policy.decide(p, "use_model", "labs/x", now=T0)
    assert not no.allowed and no.policy == "key:ops models (no pattern matches 'labs/x')"
    assert not (await policy.decide(p, "use_model", "Default/weather", now=T0)).allowed  # case-sensitive
    assert (await policy.decide(p, "use_tool", "calc_add", now=T0)).allowed
    tool = await policy.decide(p, "use_tool", "fetch_doc", now=T0)
    assert not tool.allowed and tool.policy == "key:ops tools (no pattern matches 'fetch_doc')"


async def test_namespace_defaults_allow_and_deny() -> None:
    policy, _ = make_policy(namespaces={"labs": "deny", "public": "allow"})
    p = principal(models=("default/*",))
    denied = await policy.decide(p, "use_model", "labs/x", now=T0)
    assert not denied.allowed and denied.policy == "namespace:labs models=deny"
    allowed = await policy.decide(p, "use_model", "public/faq", now=T0)
    assert allowed.allowed and allowed.policy == "namespace:public models=allow"
    # A namespace without a default falls back to the key's own answer.
    other = await policy.decide(p, "use_model", "misc/x", now=T0)
    assert not other.allowed and other.policy == "key:ops models (no pattern matches 'misc/x')"
    # An id without '/' lives in "default".
    assert (await policy.decide(principal(models=()), "use_model", "bare", now=T0)).policy == "key:ops models (no pattern matches 'bare')"


async def test_namespace_default_does_not_override_a_key_that_names_the_namespace() -> None:
    policy, _ = make_policy(namespaces={"public": "allow", "labs": "deny"})
    p = principal(models=("public/faq-*",))
    # The key names "public", so its patterns decide there, not the namespace default.
    denied = await policy.decide(p, "use_model", "public/other", now=T0)
    assert not denied.allowed and denied.policy == "key:ops models (no pattern matches 'public/other')"
    # A matching key pattern wins over a namespace deny.
    star = principal(models=("*",))
    assert (await policy.decide(star, "use_model", "labs/x", now=T0)).policy == "key:ops models[0]='*'"


def test_pattern_names_namespace() -> None:
    assert pattern_names_namespace("*", "labs")
    assert pattern_names_namespace("labs/*planner*", "labs")
    assert pattern_names_namespace("l*/x", "labs")
    assert not pattern_names_namespace("default/*", "labs")
    assert pattern_names_namespace("team/sub/*", "team/sub")


async def test_admin_role() -> None:
    policy, _ = make_policy()
    admin = principal(roles=frozenset({"admin"}))
    assert await policy.decide(admin, "call_admin", "SecurityService.ReloadPolicy", now=T0) == Decision(True, "role:admin", "key 'ops' has role admin")
    user = principal(key_id="ci", models=("*",))
    denied = await policy.decide(user, "call_admin", "SecurityService.ReloadPolicy", now=T0)
    assert not denied.allowed and denied.policy == "key:ci lacks role admin"
    # Admin role is about admin RPCs only; it does not grant models.
    assert not (await policy.decide(admin, "use_model", "default/x", now=T0)).allowed


async def test_unauthenticated_is_denied() -> None:
    policy, _ = make_policy()
    for action in ("use_model", "use_tool", "call_admin", "load_module"):
        decision = await policy.decide(None, action, "default/x", now=T0)  # type: ignore[arg-type]
        assert not decision.allowed and decision.policy == "unauthenticated"


async def test_unknown_action_raises() -> None:
    policy, _ = make_policy()
    with pytest.raises(ValueError, match="unknown action"):
        await policy.decide(principal(), "delete_everything", "x")  # type: ignore[arg-type]


async def test_override_grant() -> None:
    policy, store = make_policy()
    p = principal(models=("default/*",))
    assert not (await policy.decide(p, "use_model", "labs/x", now=T0)).allowed
    ovr = await store.create(new_override(key_id="ops", action="use_model", pattern="labs/*", effect="grant", ttl=timedelta(minutes=5), reason="demo", now=T0))
    decision = await policy.decide(p, "use_model", "labs/x", now=T0)
    assert decision.allowed and decision.policy == f"overrides/{ovr.id} grant 'labs/*'"
    assert "demo" in decision.reason
    # Another key is unaffected.
    assert not (await policy.decide(principal(key_id="ci"), "use_model", "labs/x", now=T0)).allowed


async def test_override_revoke_beats_key_pattern_and_grant() -> None:
    policy, store = make_policy()
    p = principal(models=("*",), tools=("*",))
    await store.create(new_override(key_id="ops", action="use_model", pattern="default/*", effect="grant", ttl=timedelta(hours=1), now=T0))
    revoke = await store.create(new_override(key_id="ops", action="use_model", pattern="default/w*", effect="revoke", ttl=timedelta(hours=1), now=T0))
    decision = await policy.decide(p, "use_model", "default/weather", now=T0)
    assert not decision.allowed and decision.policy == f"overrides/{revoke.id} revoke 'default/w*'"
    assert (await policy.decide(p, "use_model", "default/other", now=T0)).allowed
    # A use_model revoke does not touch tools.
    assert (await policy.decide(p, "use_tool", "default/weather", now=T0)).allowed
    tool_revoke = await store.create(new_override(key_id="ops", action="use_tool", pattern="fetch_*", effect="revoke", ttl=timedelta(hours=1), now=T0))
    assert (await policy.decide(p, "use_tool", "fetch_doc", now=T0)).policy == f"{tool_revoke.name} revoke 'fetch_*'"


async def test_namespace_override_applies_to_every_key_in_that_namespace() -> None:
    policy, store = make_policy()
    revoke = await store.create(new_override(namespace="labs", action="use_model", pattern="*", effect="revoke", ttl=timedelta(minutes=10), now=T0))
    for key_id in ("ops", "ci"):
        decision = await policy.decide(principal(key_id=key_id, models=("*",)), "use_model", "labs/x", now=T0)
        assert not decision.allowed and decision.policy.startswith(revoke.name)
    assert (await policy.decide(principal(models=("*",)), "use_model", "default/x", now=T0)).allowed
    with pytest.raises(ValueError, match="use_model only"):
        new_override(namespace="labs", action="use_tool", pattern="*", effect="revoke", ttl=timedelta(minutes=1))


async def test_override_expires_after_ttl() -> None:
    now = T0
    policy, _ = make_policy()
    store = InMemoryOverrideStore(clock=lambda: now)
    policy = Policy(policy.file, store)
    p = principal(models=())
    ovr = await store.create(new_override(key_id="ops", action="use_model", pattern="default/*", effect="grant", ttl=timedelta(seconds=30), now=T0))
    assert (await policy.decide(p, "use_model", "default/x", now=T0 + timedelta(seconds=29))).allowed
    later = T0 + timedelta(seconds=30)
    decision = await policy.decide(p, "use_model", "default/x", now=later)
    assert not decision.allowed and decision.policy.startswith("key:ops")
    now = later
    assert await store.get(ovr.id) is None
    assert await store.list() == []
    assert await store.delete(ovr.id) is False


async def test_override_store_crud_and_validation() -> None:
    store = InMemoryOverrideStore(clock=lambda: T0)
    a = await store.create(new_override(key_id="ops", action="use_model", pattern="a/*", effect="grant", ttl=timedelta(minutes=2), now=T0))
    b = await store.create(new_override(key_id="ops", action="use_model", pattern="b/*", effect="grant", ttl=timedelta(minutes=1), now=T0))
    assert a.id.startswith("ovr_") and a.name == f"overrides/{a.id}"
    assert override_id_from_name(a.name) == a.id
    assert [o.id for o in await store.list()] == [b.id, a.id]  # soonest expiry first
    assert await store.get(a.id) == a
    with pytest.raises(ValueError, match="already exists"):
        await store.create(a)
    assert await store.delete(a.id) is True
    assert await store.delete(a.id) is False
    assert [o.id for o in await store.active()] == [b.id]
    for bad in ("ovr_1", "overrides/", "overrides/a/b"):
        with pytest.raises(ValueError):
            override_id_from_name(bad)
    with pytest.raises(ValueError, match="exactly one"):
        new_override(key_id="ops", namespace="labs", action="use_model", pattern="*", effect="grant", ttl=timedelta(minutes=1))
    with pytest.raises(ValueError, match="exactly one"):
        new_override(action="use_model", pattern="*", effect="grant", ttl=timedelta(minutes=1))
    with pytest.raises(ValueError, match="actions"):
        new_override(key_id="ops", action="call_admin", pattern="*", effect="grant", ttl=timedelta(minutes=1))
    with pytest.raises(ValueError, match="ttl"):
        new_override(key_id="ops", action="use_model", pattern="*", effect="grant", ttl=timedelta(0))
    with pytest.raises(ValueError, match="timezone"):
        Override("ovr_1", "ops", None, "use_model", "*", "grant", datetime(2030, 1, 1))


async def test_visible_models() -> None:
    policy, store = make_policy(namespaces={"public": "allow"})
    p = principal(models=("default/*",))
    await store.create(new_override(key_id="ops", action="use_model", pattern="default/secret", effect="revoke", ttl=timedelta(minutes=1), now=T0))
    ids = ["default/a", "default/secret", "labs/x", "public/faq"]
    assert await policy.allowed(p, "use_model", ids, now=T0) == ["default/a", "public/faq"]
    assert await policy.allowed(None, "use_model", ids, now=T0) == []


async def test_module_allow_deny() -> None:
    policy, _ = make_policy(modules={"allow": ["default/*", "labs/*"], "deny": ["labs/secret*"]})
    assert policy.module_allowed("default/x") == (True, "modules.allow[0]='default/*'")
    assert policy.module_allowed("labs/secret-agent") == (False, "modules.deny[0]='labs/secret*'")
    assert policy.module_allowed("labs/ok") == (True, "modules.allow[1]='labs/*'")
    assert policy.module_allowed("other/x") == (False, "modules.allow (no pattern matches 'other/x')")
    no_file = Policy(None, InMemoryOverrideStore())
    assert no_file.module_allowed("anything/x") == (True, "modules.allow (default)")
    decision = await policy.decide(principal(), "load_module", "labs/secret-agent", now=T0)
    assert not decision.allowed and decision.policy == "modules.deny[0]='labs/secret*'"


# ---------------------------------------------------------------------------- rate limits


def limited(rpm: int | None = None, tpm: int | None = None) -> Principal:
    return principal(rate_limit=RateLimit(requests_per_minute=rpm, tokens_per_minute=tpm))


async def test_requests_per_minute_exhausted_then_window_slides() -> None:
    clock = FakeClock()
    limiter = RateLimiter(InMemoryRateLimitStore(), clock=clock)
    p = limited(rpm=3)
    for offset in (0.0, 10.0, 20.0):
        clock.now = 1000.0 + offset
        await limiter.reserve(p, 0)
    clock.now = 1030.0
    with pytest.raises(GatewayError) as info:
        await limiter.reserve(p, 0)
    err = info.value
    assert (err.status, err.reason) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
    assert err.metadata == {"limit": "requests_per_minute", "key_id": "ops"}
    assert err.retry_after_s == pytest.approx(30.0)  # the first request leaves the window at 1060
    assert "3 requests per minute" in err.message
    clock.now = 1059.9
    with pytest.raises(GatewayError):
        await limiter.reserve(p, 0)
    clock.now = 1060.0
    await limiter.reserve(p, 0)  # capacity freed exactly when promised
    with pytest.raises(GatewayError) as again:
        await limiter.reserve(p, 0)
    assert again.value.retry_after_s == pytest.approx(10.0)


async def test_committed_tokens_block_later_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(InMemoryRateLimitStore(), clock=clock)
    p = limited(tpm=1000)
    first = await limiter.reserve(p, 100)
    await limiter.commit(first, 1500)  # real usage overshoots the budget
    clock.now += 5
    with pytest.raises(GatewayError) as info:
        await limiter.reserve(p, 10)
    err = info.value
    assert err.metadata == {"limit": "tokens_per_minute", "key_id": "ops"}
    assert err.retry_after_s == pytest.approx(55.0)
    clock.now = 1060.0
    second = await limiter.reserve(p, 900)
    assert second.entry_id is not None and second.estimated_tokens == 900
    with pytest.raises(GatewayError):
        await limiter.reserve(p, 200)  # 900 reserved + 200 > 1000
    await limiter.commit(second, 100)  # actual usage frees the rest of the estimate
    await limiter.reserve(p, 800)


async def test_estimate_larger_than_budget_is_not_retryable() -> None:
    limiter = RateLimiter(InMemoryRateLimitStore(), clock=FakeClock())
    with pytest.raises(GatewayError) as info:
        await limiter.reserve(limited(tpm=100), 101)
    err = info.value
    assert err.status == "RESOURCE_EXHAUSTED" and err.metadata["retryable"] == "false"
    assert err.metadata["limit"] == "tokens_per_minute"
    assert "retrying cannot help" in err.message and err.retry_after_s is None


async def test_both_limits_report_the_longer_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(InMemoryRateLimitStore(), clock=clock)
    p = limited(rpm=2, tpm=100)
    await limiter.reserve(p, 60)
    clock.now += 20
    await limiter.reserve(p, 30)
    clock.now += 1
    with pytest.raises(GatewayError) as info:
        await limiter.reserve(p, 80)  # requests free at +39 s; 80 tokens need both entries gone: +59 s
    assert info.value.metadata["limit"] == "tokens_per_minute"
    assert info.value.retry_after_s == pytest.approx(59.0)


async def test_no_limit_is_a_noop_and_keys_are_independent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(InMemoryRateLimitStore(), clock=clock)
    free = principal(key_id="free")
    for _ in range(100):
        reservation = await limiter.reserve(free, 10**9)
        assert reservation.entry_id is None
        await limiter.commit(reservation, 10**9)
    assert (await limiter.reserve(None, 5)).entry_id is None
    a, b = limited(rpm=1), Principal("other", frozenset(), (), (), RateLimit(requests_per_minute=1))
    await limiter.reserve(a, 0)
    await limiter.reserve(b, 0)
    with pytest.raises(GatewayError):
        await limiter.reserve(a, 0)


async def test_concurrent_reservations_do_not_overshoot() -> None:
    import asyncio

    limiter = RateLimiter(InMemoryRateLimitStore(), clock=FakeClock())
    p = limited(rpm=5)
    results = await asyncio.gather(*(limiter.reserve(p, 0) for _ in range(20)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 5
    assert all(isinstance(r, GatewayError) for r in results if isinstance(r, BaseException))


# ---------------------------------------------------------------------------- audit


def event(i: int, key_id: str = "ops", action: str = "use_model", resource: str = "default/x", allowed: bool = True) -> AuditEvent:
    return AuditEvent(time=T0 + timedelta(seconds=i), request_id=f"req-{i}", key_id=key_id, action=action, resource=resource, allowed=allowed, policy="p")


async def test_audit_filters_and_newest_first() -> None:
    audit = AuditLog()
    audit.record(event(1, resource="default/a"))
    audit.record(event(2, key_id="ci", resource="labs/b", allowed=False))
    audit.record(event(3, action="use_tool", resource="fetch_doc"))
    audit.record(event(4, resource="labs/c"))
    ids = lambda events: [e.request_id for e in events]  # noqa: E731
    assert ids((await audit.list())[0]) == ["req-4", "req-3", "req-2", "req-1"]
    assert ids((await audit.list(key_id="ci"))[0]) == ["req-2"]
    assert ids((await audit.list(action="use_tool"))[0]) == ["req-3"]
    assert ids((await audit.list(resource="labs/*"))[0]) == ["req-4", "req-2"]
    assert ids((await audit.list(allowed=False))[0]) == ["req-2"]
    assert ids((await audit.list(allowed=True, start_time=T0 + timedelta(seconds=3)))[0]) == ["req-4", "req-3"]
    assert await audit.list(key_id="nobody") == ([], "")


async def test_audit_paging_and_bad_token() -> None:
    audit = AuditLog()
    for i in range(1, 8):
        audit.record(event(i, allowed=i % 2 == 1))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = await audit.list(allowed=True, page_size=2, page_token=token)
        seen += [e.request_id for e in page]
        pages += 1
        if not token:
            break
    assert seen == ["req-7", "req-5", "req-3", "req-1"] and pages == 2
    for bad in ("garbage!", "bm9wZQ", "YXVkaXQ6LTE"):  # not base64 / "nope" / "audit:-1"
        with pytest.raises(ValueError, match="page_token"):
            await audit.list(page_token=bad)


async def test_audit_ring_is_bounded_and_logs_json(caplog: pytest.LogCaptureFixture) -> None:
    audit = AuditLog(max_events=3)
    with caplog.at_level(logging.INFO, logger="agentgateway.audit"):
        for i in range(5):
            audit.record(event(i, allowed=i != 4))
    assert len(audit) == 3
    assert [e.request_id for e in (await audit.list())[0]] == ["req-4", "req-3", "req-2"]
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert line["logger"] == "agentgateway.audit"
    assert {k: line[k] for k in ("request_id", "key_id", "action", "resource", "decision", "policy")} == {
        "request_id": "req-4",
        "key_id": "ops",
        "action": "use_model",
        "resource": "default/x",
        "decision": "deny",
        "policy": "p",
    }


def test_audit_event_from_decision() -> None:
    ev = AuditEvent.of(Decision(False, "unauthenticated", "x"), principal=None, action="use_model", resource="default/x", request_id="r1", time=T0)
    assert ev == AuditEvent(T0, "r1", "", "use_model", "default/x", False, "unauthenticated")


# ---------------------------------------------------------------------------- key creation


def test_create_key_entry_round_trip(tmp_path: Path) -> None:
    key, snippet = create_key_entry("ci-bot", admin=True, models=("default/*",), requests_per_minute=60, tokens_per_minute=1000)
    assert key not in snippet
    path = write(tmp_path, "api_keys:\n" + "".join(f"  {line}\n" for line in snippet.splitlines()))
    file = load_security(path)
    assert file is not None and len(file.api_keys) == 1
    entry = file.api_keys[0]
    assert entry.sha256 == hash_key(key) and entry.roles == ["admin"] and entry.models == ["default/*"] and entry.tools == ["*"]
    assert entry.rate_limit == RateLimit(requests_per_minute=60, tokens_per_minute=1000)
    found = KeyRing.from_config(file, environ={}).authenticate(key)
    assert found is not None and found.key_id == "ci-bot" and found.is_admin


def test_create_key_entry_defaults_and_errors() -> None:
    key, snippet = create_key_entry("plain")
    parsed = SecurityFile.model_validate({"api_keys": yaml.safe_load(snippet)})
    assert parsed.api_keys[0].roles == [] and parsed.api_keys[0].models == ["*"] and parsed.api_keys[0].rate_limit is None
    assert KeyRing.from_config(parsed).authenticate(key).key_id == "plain"
    with pytest.raises(ValueError, match="id"):
        create_key_entry("bad id")
    with pytest.raises(ValueError, match="requests_per_minute"):
        create_key_entry("ok", requests_per_minute=0)
