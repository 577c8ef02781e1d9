# Agent Gateway image: `make image` (or `docker build -t agent-gateway .`); docs/deployment.md.
# Two stages: the builder makes a virtualenv with the package and its [fast] extra; the final
# stage gets only that virtualenv, the sample agents and config, and runs as a non-root user.
# The base image is pinned by tag: both stages must use the same one (the venv's python is a
# symlink to the base image's interpreter).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# The package alone first, so a change of agents/ or config/ keeps this layer.
COPY pyproject.toml README.md ./
COPY agentgateway ./agentgateway
COPY services ./services
COPY shim ./shim
RUN /opt/venv/bin/pip install ".[fast]"
# Agents baked into the image: their requirements.txt are installed here, at build time (the
# final image's virtualenv is read-only to the gateway's user). Nothing to do for the samples.
COPY agents /app/agents
RUN /opt/venv/bin/agent-gateway agents install-deps --agents-dir /app/agents

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="agent-gateway" \
      org.opencontainers.image.description="Serve OpenAI Agents SDK agents as models over an OpenAI-compatible REST API and typed gRPC."
# uid/gid 10001: the Kubernetes manifests (deploy/k8s) run as the same numbers.
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin gateway \
    && mkdir /data \
    && chown gateway:gateway /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app/agents /app/agents
COPY config /app/config
COPY deploy/healthcheck.py /app/healthcheck.py
# Mount points: /app/agents (drop-in agents), /app/config (agents.yaml, tools.yaml,
# security.yaml, upstreams.yaml and the tool modules they name), /data (embedded state:
# SQLite files; unused for what GATEWAY_STATE_URL moves to Redis).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_HTTP_PORT=8000 \
    GATEWAY_GRPC_PORT=50051 \
    GATEWAY_AGENT_DISCOVERY_PATH=/app/agents \
    GATEWAY_CONFIG_DIR=/app/config \
    GATEWAY_DATA_DIR=/data
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8000 50051
USER 10001:10001
# /healthz on the HTTP port, or grpc.health.v1 for a gRPC-only process (deploy/healthcheck.py).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "/app/healthcheck.py"]
# SIGTERM drains: in-flight requests get GATEWAY_SHUTDOWN_GRACE_S (docs/configuration.md).
STOPSIGNAL SIGTERM
ENTRYPOINT ["agent-gateway"]
CMD ["serve"]
