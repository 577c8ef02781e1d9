"""Which paths a run measures, and in which phases.

A path is one way of getting the same answer: the upstream called directly, LiteLLM in
front of it, the SDK agent run in-process, or the gateway (declarative or SDK agent, REST or
gRPC, in-process or socket shim transport, one or two workers). A phase is one load shape:
unary or streaming, at one concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.gateway import ADMIN_KEY, DECLARATIVE_MODEL, HELPDESK_INSTRUCTIONS, SDK_MODEL, Gateway
from bench.prompts import LONG_PROMPT, SHORT_PROMPT

__all__ = ["CONCURRENCY", "PHASES", "BenchPath", "Phase", "baseline_paths", "gateway_paths", "responses_body"]

CONCURRENCY = (1, 32, 256)


@dataclass(frozen=True)
class Phase:
    key: str  # e.g. "unary@32"
    stream: bool
    concurrency: int
    prompt: str

    @property
    def latency_phase(self) -> bool:
        """Concurrency-1 phases run in interleaved passes over all paths."""
        return self.concurrency == 1


PHASES = (
    *(Phase(f"unary@{c}", False, c, LONG_PROMPT) for c in CONCURRENCY),
    *(Phase(f"stream@{c}", True, c, LONG_PROMPT) for c in CONCURRENCY),
    Phase("short@1", True, 1, SHORT_PROMPT),  # a 3-chunk stream: with stream@1, the CPU of one more chunk
)


@dataclass(frozen=True)
class BenchPath:
    key: str  # stable id, e.g. "gw-inprocess/decl/rest"
    label: str
    transport: str  # "rest", "grpc" or "sdk" (in-process agent)
    target: str  # base URL, gRPC address or (sdk) the upstream's base URL
    model: str
    system: str = ""  # a system message the client sends itself (the baselines of the passthrough)
    key_header: str | None = None
    server: str = ""  # the service whose process tree's CPU is "server CPU": upstream, litellm, a gateway's name
    agent_file: str = ""

    def messages(self, prompt: str) -> list[dict[str, Any]]:
        user = {"role": "user", "content": prompt}
        return [{"role": "system", "content": self.system}, user] if self.system else [user]


def baseline_paths(upstream_url: str, litellm_url: str | None, agent_file: str) -> list[BenchPath]:
    paths = [BenchPath("direct", "Upstream direct", "rest", f"{upstream_url}/v1", "helpdesk-model", HELPDESK_INSTRUCTIONS, server="upstream")]
    if litellm_url:
        paths.append(BenchPath("litellm", "LiteLLM proxy", "rest", f"{litellm_url}/v1", "helpdesk-model", HELPDESK_INSTRUCTIONS, server="litellm"))
    paths.append(BenchPath("sdk-inprocess", "SDK agent in-process", "sdk", f"{upstream_url}/v1", "", agent_file=agent_file))
    return paths


def responses_body(model: str, messages: list[dict[str, Any]], *, stream: bool) -> dict[str, Any]:
    """A ``/v1/responses`` request with the same turn as the chat paths send. ``store: false``:
    the same work as a chat completion, so the two APIs compare like for like."""
    return {"model": model, "input": messages, "stream": stream, "store": False}


def gateway_paths(name: str, gateway: Gateway, label: str, *, responses: bool = False) -> list[BenchPath]:
    """The four gateway paths of one running gateway (six with the Responses API)."""
    out = []
    transports = [("rest", gateway.openai_base_url), ("grpc", gateway.grpc_address)]
    if responses:
        transports.append(("responses", gateway.openai_base_url))
    names = {"rest": "REST", "grpc": "gRPC", "responses": "REST /v1/responses"}
    for agent, model in (("decl", DECLARATIVE_MODEL), ("sdk", SDK_MODEL)):
        for transport, target in transports:
            kind = "declarative" if agent == "decl" else "SDK agent"
            out.append(
                BenchPath(
                    f"{name}/{agent}/{transport}",
                    f"{kind}, {names[transport]}, {label}",
                    transport,
                    target,
                    model,
                    "",
                    ADMIN_KEY,
                    name,
                )
            )
    return out
