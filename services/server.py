"""One process, any subset of services: the gRPC server (registry, executor and its
conversations and upstreams, tools, security, health, reflection) and the HTTP shim over uvicorn.

A split deployment runs the same code with a different ``--services``: a shim-only
process reaches the executor and registry through ``GATEWAY_GRPC_TARGET``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
from collections.abc import Callable, Iterator, Sequence

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from agentgateway.v1 import (
    conversation_service_pb2,
    conversation_service_pb2_grpc,
    executor_service_pb2,
    executor_service_pb2_grpc,
    registry_service_pb2,
    registry_service_pb2_grpc,
    security_service_pb2,
    security_service_pb2_grpc,
    tool_service_pb2,
    tool_service_pb2_grpc,
    upstream_service_pb2,
    upstream_service_pb2_grpc,
)
from services.conversations.servicer import ConversationServicer
from services.conversations.store import ConversationStore
from services.executor.approval_store import ApprovalStore
from services.executor.executor import Executor
from services.executor.responses_run import ResponseRunner
from services.executor.routing import install_routing_runner
from services.executor.servicer import ExecutorServicer
from services.executor.tracing import GatewayTraceProcessor, RunTracing, install_tracing
from services.fast_path import http_parser, loop_name
from services.guest.pools import install_routing_executor
from services.guest.watchdog import LoopWatchdog
from services.listen import bind_http, cannot_bind
from services.log import get_logger
from services.metrics import APPROVALS_PENDING, on_scrape
from services.metrics_server import Verdict, metrics_app
from services.registry.catalog import AgentCatalog, Diagnostic
from services.registry.discovery import Failure
from services.registry.package_watch import also_installs
from services.registry.servicer import RegistryServicer
from services.registry.watch import WatchedFile, Watcher
from services.rpc.inprocess import InProcessServer, registering_on
from services.rpc.interceptor import ErrorInterceptor
from services.security.audit import AuditEvent
from services.security.first_run import announce_generated_key
from services.security.gatekeeper import Gatekeeper
from services.security.interceptor import AuthInterceptor
from services.security.policy import Decision
from services.security.servicer import SecurityServicer
from services.settings import GatewaySettings
from services.state.stores import SharedState
from services.supervisor import WorkerSpec
from services.tools.catalog import ToolCatalog
from services.tools.runtime import ToolRuntime
from services.tools.sdk import bind_runtime
from services.tools.servicer import ToolServicer
from services.upstreams import UpstreamPool, load_upstreams
from services.upstreams.servicer import UpstreamServicer
from shim.app import create_app

__all__ = ["Gateway"]

log = get_logger("server")

_SERVICE_NAMES = {
    "registry": registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    "executor": executor_service_pb2.DESCRIPTOR.services_by_name["ExecutorService"].full_name,
    "tools": tool_service_pb2.DESCRIPTOR.services_by_name["ToolService"].full_name,
    "security": security_service_pb2.DESCRIPTOR.services_by_name["SecurityService"].full_name,
}
# Served wherever the executor is: Responses-API runs read and write the same conversations,
# and the upstreams are the executor's.
_CONVERSATION_SERVICE = conversation_service_pb2.DESCRIPTOR.services_by_name["ConversationService"].full_name
_UPSTREAM_SERVICE = upstream_service_pb2.DESCRIPTOR.services_by_name["UpstreamService"].full_name


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The gateway owns signal handling (graceful shutdown of both servers).
        yield


async def _serving(server: uvicorn.Server, sock: socket.socket, what: str) -> asyncio.Task[None]:
    """Serve on ``sock``; once it serves, the serving task."""
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn {what}")
    while not server.started:
        if task.done():
            task.result()  # raises the bind error
            host, port = sock.getsockname()[:2]
            raise OSError(f"{what} server on {host}:{port} stopped during start-up")
        await asyncio.sleep(0.01)
    return task


class Gateway:
    def __init__(self, settings: GatewaySettings, worker: WorkerSpec | None = None) -> None:
        self.settings = settings
        # One of several workers sharing the ports (services/supervisor.py), or None: alone.
        self.worker = worker
        self.catalog: AgentCatalog | None = None
        self.gatekeeper: Gatekeeper | None = None
        self.tool_catalog: ToolCatalog | None = None
        self.tool_runtime: ToolRuntime | None = None
        self.executor: Executor | None = None
        self.state = SharedState(settings)
        self.approvals: ApprovalStore | None = None
        self.conversations: ConversationStore | None = None
        self.upstreams: UpstreamPool | None = None
        self.grpc_server: grpc.aio.Server | None = None
        self.inprocess: InProcessServer | None = None
        self.shim_transport: str | None = None  # how the shim reaches the services, once it runs
        self.health: health.aio.HealthServicer | None = None
        self.http: _Uvicorn | None = None
        self.grpc_port = settings.grpc_port
        self._http_task: asyncio.Task[None] | None = None
        self._watcher: Watcher | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.watchdog: LoopWatchdog | None = None
        self.traces: GatewayTraceProcessor | None = None
        self._stop_counting_approvals: Callable[[], None] = lambda: None
        self.metrics_http: _Uvicorn | None = None
        self.metrics_port: int | None = None
        self._metrics_task: asyncio.Task[None] | None = None
        self._security_channel: grpc.aio.Channel | None = None
        self._security: security_service_pb2_grpc.SecurityServiceAsyncStub | None = None

    async def start(self) -> None:
        s = self.settings
        self.traces = install_tracing(
            gateway=s.sdk_tracing, openai_export=s.openai_tracing, include_sensitive=s.trace_include_sensitive_data, otel_endpoint=s.otel_endpoint
        )
        install_routing_runner()
        # Agent code is guest code: each run's to_thread goes to its agent's own pool, and
        # whatever still blocks the loop is logged and counted (services/guest/).
        install_routing_executor()
        if s.loop_lag_warn_s > 0:
            self.watchdog = LoopWatchdog(s.loop_lag_warn_s).start()
        wanted = set(s.services)
        if s.agent_watch:
            # Before any config is read: the watcher notes what each file holds now.
            self._watcher = self._make_watcher(wanted)
        if s.grpc_services:
            digest = self.worker.generated_admin_digest if self.worker is not None else None
            self.gatekeeper = Gatekeeper.load(s.config_file("security"), generated_admin_digest=digest, stores=self.state.security())
            if self.gatekeeper.generated_key is not None:
                self.settings = s = announce_generated_key(s, self.gatekeeper.generated_key)
        if wanted & {"executor", "tools"}:
            # Before drop-ins load: gateway_tool("name") reads schemas from this catalogue.
            config_dir = s.config_file("tools").parent
            self.tool_catalog = ToolCatalog(s.config_file("tools"), config_dir)
            await self.tool_catalog.start()
            assert self.gatekeeper is not None
            self.tool_runtime = ToolRuntime(self.tool_catalog, self.gatekeeper)
            bind_runtime(self.tool_runtime)
        if wanted & {"registry", "executor"}:
            # Parse before anything listens: a malformed file stops start-up with a clear message.
            # The registry reads it too, to flag agents their upstream cannot run.
            if "executor" in wanted:
                # Reloadable (UpstreamService, the watcher); the catalogue follows its reloads.
                self.upstreams = UpstreamPool.from_file(s.config_file("upstreams"), s.default_model)
                self.upstreams.start()  # health checks
            upstreams = self.upstreams or load_upstreams(s.config_file("upstreams"), s.default_model)
            self.catalog = AgentCatalog(
                s.agent_discovery_path,
                s.config_file("agents"),
                s.agent_exports,
                module_allowed=self._module_allowed,
                upstreams=upstreams,
                config_diagnostics=self._config_diagnostics,
            )
            await self.catalog.refresh()
        if self._watcher is not None:
            # Before the listeners: once the gateway answers, a saved file is picked up.
            watching = self._watcher.run(self._stopping)
            if self.catalog is not None:  # and the packages an agent waits for (services/registry/package_watch.py)
                watching = also_installs(watching, self.catalog, self._stopping)
            self._watch_task = asyncio.create_task(watching, name="hot-reload")
        if s.metrics_port is not None:
            await self._start_metrics()
        if s.grpc_services:
            await self._start_grpc()
        if "shim" in wanted:
            await self._start_http()
        log.info(
            "gateway started",
            extra={
                "fields": {
                    "services": list(s.services),
                    "grpc": f"{s.host}:{self.grpc_port}",
                    "http": f"{s.host}:{s.http_port}",
                    "metrics": f"{s.host}:{self.metrics_port}" if self.metrics_port is not None else None,
                    "agents": len(self.catalog.list()) if self.catalog else None,
                    "shim_transport": self.shim_transport,
                    "loop": loop_name(),
                    "http_parser": http_parser() if "shim" in wanted else None,
                }
            },
        )

    def _make_watcher(self, wanted: set[str]) -> Watcher:
        """What hot reload watches: one entry per config file this process loads (see
        services/registry/watch.py), and the agents folder where the catalogue lives."""
        s = self.settings
        files: list[WatchedFile] = []
        catalogue = bool(wanted & {"registry", "executor"})
        if catalogue:
            files.append(WatchedFile("agents", s.config_file("agents"), self._reload_declarative))
        if s.grpc_services:
            files.append(WatchedFile("security", s.config_file("security"), self._reload_security))
        if wanted & {"executor", "tools"}:
            files.append(WatchedFile("tools", s.config_file("tools"), self._reload_tools))
        if "executor" in wanted:
            files.append(WatchedFile("upstreams", s.config_file("upstreams"), self._reload_upstreams))
        return Watcher(
            files,
            agents_dir=s.agent_discovery_path if catalogue else None,
            reload_agents=self._rescan_agents,
            on_problem=self._config_problem,
        )

    async def _rescan_agents(self) -> None:
        assert self.catalog is not None
        await self.catalog.refresh(declarative=False, retry_failed=False)

    async def _reload_declarative(self) -> None:
        assert self.catalog is not None
        await self.catalog.refresh(drop_ins=False)

    async def _reload_security(self) -> None:
        assert self.gatekeeper is not None
        self.gatekeeper.reload()  # raises to reject: the old policy stays
        if self.catalog is not None:
            # The module allow/deny lists may have changed: applied without re-importing anything
            # that stays allowed.
            await self.catalog.refresh(declarative=False, retry_failed=False)

    async def _reload_tools(self) -> None:
        assert self.tool_catalog is not None
        await self.tool_catalog.refresh()  # raises ConfigError to reject: the old catalogue stays

    async def _reload_upstreams(self) -> None:
        assert self.upstreams is not None
        await self.upstreams.reload()  # raises to reject (and keeps the rejection): the old upstreams stay

    def _config_problem(self, watched: WatchedFile, failure: Failure | None) -> None:
        # The catalogue lists agents.yaml's own problems, and the pool its rejected upstreams.yaml.
        if self.catalog is not None and watched.name not in ("agents", "upstreams"):
            self.catalog.set_config_problem(str(watched.path), failure)

    @property
    def _shares_ports(self) -> bool:
        """Several workers listen on the same ports (SO_REUSEPORT)."""
        return self.worker is not None and self.worker.count > 1

    def _config_diagnostics(self) -> list[Diagnostic]:
        """Config files other than agents.yaml that a reload rejected: listed with the
        registry's diagnostics until a reload takes them (the old config serves meanwhile)."""
        rejected = self.upstreams.rejected if self.upstreams is not None else None
        if rejected is None:
            return []
        return [Diagnostic(rejected.path, "", "discover", "ConfigError", f"not reloaded, the previous upstreams stay: {rejected.message}", "", rejected.time)]

    def _module_allowed(self, model_id: str) -> tuple[bool, str]:
        assert self.gatekeeper is not None
        allowed, policy = self.gatekeeper.policy.module_allowed(model_id)
        self.gatekeeper.audit.record(AuditEvent.of(Decision(allowed, policy, ""), principal=None, action="load_module", resource=model_id))
        return allowed, policy

    async def _start_grpc(self) -> None:
        s = self.settings
        assert self.gatekeeper is not None
        # Outermost first: errors raised anywhere inside (auth included) become rich statuses.
        interceptors = [ErrorInterceptor(), AuthInterceptor(self.gatekeeper)]
        socket_server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                # Alone, a port in use must be an error, not silently shared; workers share theirs.
                ("grpc.so_reuseport", 1 if self._shares_ports else 0),
                ("grpc.max_receive_message_length", s.grpc_max_message_bytes),
                ("grpc.max_send_message_length", s.grpc_max_message_bytes),
            ],
        )
        # The co-located shim's channel: the same servicers behind the same interceptors.
        self.inprocess = InProcessServer(interceptors)
        server = registering_on(socket_server, self.inprocess)
        wanted = set(s.grpc_services)
        names = [health.SERVICE_NAME, reflection.SERVICE_NAME]
        if "registry" in wanted:
            assert self.catalog is not None
            registry_service_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(self.catalog, self.gatekeeper), server)
        if "executor" in wanted:
            assert self.catalog is not None and self.upstreams is not None
            self.approvals = self.state.approvals()
            self._stop_counting_approvals = on_scrape(self._count_pending_approvals)
            self.conversations = self.state.conversations()
            self.executor = Executor(
                self.catalog,
                self.upstreams,
                self.gatekeeper,
                tools=self.tool_runtime,
                trace=RunTracing(s.sdk_tracing or s.openai_tracing, s.trace_include_sensitive_data),
                approvals=self.approvals,
                approval_ttl_s=s.approval_ttl_s,
            )
            executor_service_pb2_grpc.add_ExecutorServiceServicer_to_server(
                ExecutorServicer(self.executor, ResponseRunner(self.executor, self.conversations)), server
            )
            conversation_service_pb2_grpc.add_ConversationServiceServicer_to_server(ConversationServicer(self.conversations, self.gatekeeper), server)
            upstream_service_pb2_grpc.add_UpstreamServiceServicer_to_server(UpstreamServicer(self.upstreams), server)
        if "tools" in wanted:
            assert self.tool_runtime is not None
            tool_service_pb2_grpc.add_ToolServiceServicer_to_server(ToolServicer(self.tool_runtime, self.gatekeeper), server)
        if "security" in wanted:
            security_service_pb2_grpc.add_SecurityServiceServicer_to_server(SecurityServicer(self.gatekeeper), server)
        names += [_SERVICE_NAMES[n] for n in s.grpc_services]
        if "executor" in wanted:
            names += [_CONVERSATION_SERVICE, _UPSTREAM_SERVICE]
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(names, socket_server)  # for grpcurl and other tools: the socket only
        try:
            port = socket_server.add_insecure_port(f"{s.host}:{s.grpc_port}")
        except RuntimeError:  # grpcio's "Failed to bind to address"
            port = 0
        if port == 0:
            await socket_server.stop(None)
            raise cannot_bind("gRPC", s.host, s.grpc_port, "address in use, or not an address of this host")
        self.grpc_port = port
        await socket_server.start()
        for name in [*names[2:], ""]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.grpc_server = socket_server

    async def _count_pending_approvals(self) -> None:
        if self.approvals is not None:
            APPROVALS_PENDING.set(await self.approvals.pending_count())

    async def _start_http(self) -> None:
        s = self.settings
        target = s.grpc_target or f"127.0.0.1:{self.grpc_port}"
        # Co-located with the gRPC services: no socket between shim and executor, unless asked.
        inprocess = self.inprocess if not s.grpc_target and s.shim_transport != "socket" else None
        self.shim_transport = "inprocess" if inprocess is not None else f"socket {target}"
        # With several workers, every response names the one that served it (x-gateway-worker).
        app = create_app(s, target, inprocess, worker_pid=os.getpid() if self._shares_ports else None)
        config = uvicorn.Config(
            app,
            host=s.host,
            port=s.http_port,
            http=http_parser(),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=math.ceil(max(1, s.shutdown_grace_s)),
            # h11's 16 KiB default resets the connection on a long header; accept up to 256 KiB
            # of head so an oversized credential gets a proper 401 instead of a reset.
            h11_max_incomplete_event_size=256 * 1024,
            # uvicorn's 5 s default closes idle keep-alive connections that clients and load
            # balancers still consider open (a reuse at ~5 s fails with a reset).
            timeout_keep_alive=75,
        )
        # Bound here, not by uvicorn, whose bind failure is a sys.exit from inside a task.
        sock = bind_http(s.host, s.http_port, reuse_port=self._shares_ports)
        self.http = _Uvicorn(config)
        self._app = app
        self._http_task = await _serving(self.http, sock, "HTTP")

    async def _start_metrics(self) -> None:
        """``--metrics-port``: this process's own ``GET /metrics`` (services/metrics_server.py)."""
        s = self.settings
        assert s.metrics_port is not None
        config = uvicorn.Config(metrics_app(self._metrics_verdict), http=http_parser(), log_config=None, access_log=False, lifespan="off")
        sock = bind_http(s.host, s.metrics_port, reuse_port=self._shares_ports, what="metrics")
        self.metrics_port = sock.getsockname()[1]
        self.metrics_http = _Uvicorn(config)
        self._metrics_task = await _serving(self.metrics_http, sock, "metrics")

    async def _metrics_verdict(self, metadata: Sequence[tuple[str, str]]) -> Verdict:
        """An admin key, as for the shim's route: checked here if this process holds the keys,
        else by the backend's SecurityService (a shim-only process)."""
        if self.gatekeeper is not None:
            principal = self.gatekeeper.authenticate(metadata)
            roles = None if principal is None else tuple(principal.roles)
        else:
            if self._security is None:
                self._security_channel = grpc.aio.insecure_channel(self.settings.grpc_target)
                self._security = security_service_pb2_grpc.SecurityServiceStub(self._security_channel)
            try:
                me = await self._security.Authenticate(security_service_pb2.AuthenticateRequest(), metadata=tuple(metadata), timeout=5)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                    log.warning("metrics: the backend could not check the key", extra={"fields": {"grpc_status": exc.code().name}})
                return "unauthenticated"
            roles = tuple(me.principal.roles)
        if roles is None:
            return "unauthenticated"
        return "admin" if "admin" in roles else "admin_required"

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self._stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_s
        log.info("shutting down", extra={"fields": {"grace_s": grace}})
        if self._watch_task is not None:
            # First: a reload must not start what the steps below are closing.
            self._stopping.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._watch_task, 5)
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        if self.catalog is not None:
            self.catalog.end_watches()  # WatchAgents streams end now rather than hold the grace
        cut: asyncio.TimerHandle | None = None
        if self.http is not None:
            self._app.state.draining = True
            # uvicorn stops accepting, then waits (up to the grace period) for in-flight responses.
            self.http.should_exit = True
            # Just before the grace runs out, responses still waiting on a run end with an
            # in-band `shutting_down` error (or a 503) instead of being cut mid-chunk.
            cut = asyncio.get_running_loop().call_later(max(0.0, grace - min(0.5, grace / 2)), self._app.state.open_calls.cut_all)
        if self.http is not None and self._http_task is not None:
            with contextlib.suppress(Exception):
                await self._http_task
        if cut is not None:
            cut.cancel()
        if self.metrics_http is not None and self._metrics_task is not None:
            self.metrics_http.should_exit = True
            with contextlib.suppress(Exception):
                await self._metrics_task
        if self._security_channel is not None:
            await self._security_channel.close()
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace)
        if self.executor is not None:
            await self.executor.close()  # MCP servers attached to agents
        if self.approvals is not None:
            self._stop_counting_approvals()
            await self.approvals.close()
        if self.conversations is not None:
            await self.conversations.close()
        if self.gatekeeper is not None:
            await self.gatekeeper.close()  # before the Redis client it may still write through
        await self.state.close()
        if self.tool_catalog is not None:
            bind_runtime(None)
            await self.tool_catalog.close()  # MCP sessions, HTTP clients
        if self.upstreams is not None:
            await self.upstreams.aclose()
        if self.traces is not None:
            self.traces.shutdown()  # flushes what an OpenTelemetry exporter still holds
        log.info("stopped")
