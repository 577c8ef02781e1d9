"""``agent-gateway serve``: flags over environment (GATEWAY_*) over defaults.

Also ``agent-gateway keys create``, ``agent-gateway agents install-deps`` (drop-ins' requirements.txt,
docs/operations.md) and ``agent-gateway demo-model`` (the offline upstream ``make run`` uses).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

from pydantic import ValidationError

from services import fast_path
from services.config_files import ConfigError
from services.log import configure_logging, get_logger
from services.registry.install_deps import add_pip_options
from services.settings import GatewaySettings
from services.supervisor import WorkerSpec

__all__ = ["main"]

_FLAGS = {
    "host": "host",
    "http_port": "http_port",
    "grpc_port": "grpc_port",
    "agents_dir": "agent_discovery_path",
    "config_dir": "config_dir",
    "services": "services",
    "data_dir": "data_dir",
    "workers": "workers",
    "metrics_port": "metrics_port",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-gateway", description="Serve OpenAI Agents SDK agents as models.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="bind address (GATEWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="HTTP shim port (GATEWAY_HTTP_PORT, default 8000)")
    serve.add_argument("--grpc-port", type=int, help="gRPC port (GATEWAY_GRPC_PORT, default 50051)")
    serve.add_argument("--agents-dir", help="drop-in agents folder (GATEWAY_AGENT_DISCOVERY_PATH, default ./agents)")
    serve.add_argument("--config-dir", help="YAML config folder (GATEWAY_CONFIG_DIR, default ./config)")
    serve.add_argument("--services", help="comma-separated subset of registry,executor,tools,security,shim (GATEWAY_SERVICES)")
    serve.add_argument("--data-dir", help="embedded state, e.g. pending approvals (GATEWAY_DATA_DIR, default ./data)")
    serve.add_argument("--metrics-port", type=int, help="serve GET /metrics on this port too, for a process without the shim (GATEWAY_METRICS_PORT)")
    serve.add_argument("--workers", help="gateway processes sharing the ports: a number, or auto for one per usable core (GATEWAY_WORKERS, default 1)")
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="print a new key once, and its security.yaml entry (with the SHA-256 digest)")
    create.add_argument("--id", required=True, help="a name for logs and audit (never the key)")
    create.add_argument("--admin", action="store_true", help="grant the admin role")
    create.add_argument("--models", default="*", help="comma-separated fnmatch patterns over model ids (default *)")
    create.add_argument("--tools", default="*", help="comma-separated fnmatch patterns over tool names (default *)")
    create.add_argument("--requests-per-minute", type=int)
    create.add_argument("--tokens-per-minute", type=int)
    agents = commands.add_parser("agents", help="manage drop-in agents").add_subparsers(dest="agents_command", required=True)
    deps = agents.add_parser(
        "install-deps",
        allow_abbrev=False,
        help="install the agents' requirements.txt into this environment, never changing the gateway's own packages",
        description="Exit codes: 0 installed or nothing to do, 1 pip failed, 2 bad input, 3 conflict with the gateway's packages (nothing installed).",
    )
    deps.add_argument("--agent", metavar="ID", help="only this agent: the model id its folder gives (default/weather) or the folder (Weather)")
    deps.add_argument("--dry-run", action="store_true", help="print what would be installed; change nothing")
    deps.add_argument("--agents-dir", help="drop-in agents folder (GATEWAY_AGENT_DISCOVERY_PATH, default ./agents)")
    add_pip_options(deps)
    demo = commands.add_parser("demo-model", help="serve the offline demo model (a deterministic OpenAI-compatible upstream)")
    demo.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8100, help="port (default 8100; 0: any free port)")
    demo.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between streamed chunks (default 0.02)")
    return parser


def _keys_create(args: argparse.Namespace) -> int:
    from services.security.keys_cli import create_key_entry

    def split(value: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in value.split(",") if p.strip())

    try:
        key, entry = create_key_entry(args.id, args.admin, split(args.models), split(args.tools), args.requests_per_minute, args.tokens_per_minute)
    except ValueError as exc:
        print(f"agent-gateway: {exc}", file=sys.stderr)
        return 2
    print(f"New key (shown once, store it now):\n\n    {key}\n\nAdd this entry under api_keys: in security.yaml:\n\n{entry}")
    return 0


def _run(overrides: dict[str, Any], work: Callable[[GatewaySettings], int | None]) -> int:
    """Settings (`overrides` over the environment), logging as they say, then `work`; failures become exit codes."""
    try:
        settings = GatewaySettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"agent-gateway: invalid settings: {problems}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    return _exit_code(lambda: work(settings))


def _exit_code(work: Callable[[], int | None]) -> int:
    """``work``'s own exit code (None: 0); the failures a user can fix become codes and one line."""
    try:
        code = work()
    except ConfigError as exc:
        get_logger("server").error("invalid configuration", extra={"fields": {"error": str(exc)}})
        print(f"agent-gateway: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"agent-gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code or 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "keys":
        return _keys_create(args)
    if args.command == "agents":
        return _run(_settings_overrides(args, ("agents_dir",)), lambda settings: _install_deps(settings, args))
    if args.command == "demo-model":
        # Only GATEWAY_LOG_LEVEL / GATEWAY_LOG_FORMAT matter to the demo model.
        return _run({}, lambda _: _demo_model(args.host, args.port, args.chunk_delay))
    code = _run(_settings_overrides(args, _FLAGS), _serve_or_supervise)
    _quick_teardown()
    return code


def _quick_teardown() -> None:
    """Once the gateway has stopped: the interpreter's teardown garbage-collects every object
    the SDK, openai, pydantic and gRPC left in memory, which took 1-4 s after "stopped" and held
    up restarts, rolling deploys and tests. Frozen objects are left out of those collections
    (everything was closed by the shutdown; the modules are still torn down and exit
    handlers still run)."""
    gc.freeze()


def _settings_overrides(args: argparse.Namespace, flags: Iterable[str]) -> dict[str, Any]:
    return {_FLAGS[flag]: getattr(args, flag) for flag in flags if getattr(args, flag) is not None}


def _install_deps(settings: GatewaySettings, args: argparse.Namespace) -> int:
    from services.registry.install_deps import install_deps, pip_arguments

    return install_deps(settings.agent_discovery_path, args.agent, dry_run=args.dry_run, pip_options=pip_arguments(args))


def _demo_model(host: str, port: int, chunk_delay: float) -> None:
    from services.demo_model import serve  # Starlette and uvicorn only when asked for

    serve(host, port, chunk_delay)


def _serve_or_supervise(settings: GatewaySettings) -> int | None:
    if settings.state_url and settings.grpc_services and not settings.config_file("security").exists():
        # Replicas sharing state are one gateway: each generating its own admin key would make
        # a key that works on one replica fail on the next.
        raise ConfigError(
            f"GATEWAY_STATE_URL is set but {settings.config_file('security')} does not exist: replicas sharing state need the same "
            "keys, so create security.yaml (docs/security.md) instead of relying on a generated admin key"
        )
    if settings.workers == 1:
        return fast_path.run(_serve(settings), settings.event_loop)
    return _supervise(settings)


def _supervise(settings: GatewaySettings) -> int:
    """``--workers N``: the parent checks what all workers share, then starts them."""
    from services.security.config import load_security
    from services.security.first_run import announce_generated_key
    from services.security.keys import generate_key, hash_key
    from services.supervisor import supervise

    digest = None
    if settings.grpc_services:
        security = load_security(settings.config_file("security"))  # malformed: exit 2 before any worker starts
        if security is None:
            key = generate_key()
            settings = announce_generated_key(settings, key)  # printed once, here, not by each worker
            digest = hash_key(key)
        elif not settings.state_url and any(k.rate_limit is not None and not k.rate_limit.is_unlimited for k in security.api_keys):
            get_logger("supervisor").warning(
                "rate limits are per worker: a key may get up to workers x its limit unless GATEWAY_STATE_URL names a shared store (Redis)",
                extra={"fields": {"workers": settings.workers}},
            )
    return supervise(settings, run_worker, generated_admin_digest=digest)


def run_worker(settings: GatewaySettings, spec: WorkerSpec, ready: Connection) -> None:
    """A worker process (services/supervisor.py): the whole gateway, sharing the ports."""
    from services.supervisor import drain_when_orphaned

    configure_logging(settings.log_level, settings.log_format, worker=spec.index)
    drain_when_orphaned()
    code = _exit_code(lambda: fast_path.run(_serve(settings, spec, ready), settings.event_loop))
    _quick_teardown()
    sys.exit(code)


async def _serve(settings: GatewaySettings, worker: WorkerSpec | None = None, ready: Connection | None = None) -> None:
    from services.server import Gateway  # heavy imports after settings are known good

    gateway = Gateway(settings, worker)
    try:
        await gateway.start()
    except BaseException:
        await gateway.stop()
        raise
    if ready is not None:
        ready.send(os.getpid())
        ready.close()
    await gateway.wait()


if __name__ == "__main__":
    sys.exit(main())
