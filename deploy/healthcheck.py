"""The container image's HEALTHCHECK: exit 0 when this container's gateway serves, 1 otherwise.

Standard library plus the gateway's own grpcio, so the image needs no curl. It reads the same
GATEWAY_* variables as `agent-gateway serve` (set ports through them in a container, not flags):
a process with the shim answers GET /healthz on GATEWAY_HTTP_PORT (which asks the gRPC health
service in turn); a gRPC-only process (GATEWAY_SERVICES without shim) is asked
grpc.health.v1.Health/Check on GATEWAY_GRPC_PORT. Both say "not serving" while the gateway drains.

    python /app/healthcheck.py            # what the image runs
    python deploy/healthcheck.py          # the same against a gateway on this machine
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def _host() -> str:
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1").strip()
    if host in _WILDCARDS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _http_ok(host: str) -> bool:
    port = os.environ.get("GATEWAY_HTTP_PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=TIMEOUT_S) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _grpc_ok(host: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = os.environ.get("GATEWAY_GRPC_PORT", "50051")
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_S)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main() -> int:
    services = {s.strip() for s in os.environ.get("GATEWAY_SERVICES", "shim").split(",")}
    host = _host()
    return 0 if (_http_ok(host) if "shim" in services else _grpc_ok(host)) else 1


if __name__ == "__main__":
    sys.exit(main())
