"""Outbound request policy for HTTP tools: which URLs a tool may reach.

Two layers, both driven by ``OutboundPolicy``:

* ``OutboundPolicy.check_url`` runs before every request and every redirect hop: scheme,
  allow-list, then DNS resolution with the resolved addresses classified. It gives clear
  refusal messages.
* ``GuardedTransport`` re-resolves and re-checks at TCP connect time and connects to the
  address it checked, so a DNS answer that changes between the check and the connect
  (DNS rebinding) cannot steer a tool to a forbidden address. TLS still verifies the name.

Address rules: link-local, cloud-metadata, "this network", multicast and reserved addresses
are refused even if allow-listed (also in IPv4-mapped / NAT64 / 6to4 / IPv4-compatible IPv6
forms). Any other non-global address (loopback, private, CGNAT...) is allowed only when the
URL's host is listed exactly (not via a wildcard).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx

from services.tools.provider import ToolFailure

__all__ = ["GuardedTransport", "OutboundPolicy", "OutboundRefused", "blocked_reason"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED_V4 = [
    (ipaddress.ip_network("0.0.0.0/8"), "a 'this network' address"),
    (ipaddress.ip_network("169.254.0.0/16"), "a link-local / cloud-metadata address"),
    (ipaddress.ip_network("100.100.100.200/32"), "a cloud-metadata address"),
    (ipaddress.ip_network("224.0.0.0/4"), "a multicast address"),
    (ipaddress.ip_network("240.0.0.0/4"), "a reserved / broadcast address"),
]
_BLOCKED_V6 = [
    (ipaddress.ip_network("::/128"), "the unspecified address"),
    (ipaddress.ip_network("fe80::/10"), "a link-local address"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "a cloud-metadata address"),
    (ipaddress.ip_network("ff00::/8"), "a multicast address"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class OutboundRefused(ToolFailure):
    """The policy refused a URL or address. The message is safe to show."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may never be reached (even if allow-listed), or ``None``."""
    if isinstance(ip, ipaddress.IPv6Address):
        for net, why in _BLOCKED_V6:
            if ip in net:
                return why
        inner = _embedded_v4(ip)
        if inner is not None:
            return blocked_reason(inner)
        return None
    for net, why in _BLOCKED_V4:
        if ip in net:
            return why
    return None


def _is_global(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return inner.is_global
    return ip.is_global


def _normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class OutboundPolicy:
    """``allow_hosts`` entries as normalised by ``OutboundConfig``."""

    allow_hosts: tuple[str, ...] = ()

    @classmethod
    def from_hosts(cls, hosts: Iterable[str]) -> OutboundPolicy:
        return cls(tuple(_normalise_host(h) for h in hosts))

    def match(self, host: str) -> str | None:
        """``"exact"`` / ``"wildcard"`` if ``host`` is allowed, else ``None``."""
        host = _normalise_host(host)
        if host in self.allow_hosts:
            return "exact"
        for entry in self.allow_hosts:
            if entry.startswith("*.") and host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return "wildcard"
        return None

    def check_host(self, host: str) -> str:
        """Allow-list check; returns the match kind or raises ``OutboundRefused``."""
        how = self.match(host)
        if how is None:
            raise OutboundRefused(f"host {_normalise_host(host)!r} is not in outbound.allow_hosts")
        return how

    def check_addresses(self, host: str, addresses: Sequence[IPAddress], how: str) -> None:
        """Refuse if any resolved address is forbidden for this host."""
        if not addresses:
            raise OutboundRefused(f"host {_normalise_host(host)!r} did not resolve to any address")
        for ip in addresses:
            why = blocked_reason(ip)
            if why is not None:
                raise OutboundRefused(f"host {_normalise_host(host)!r} resolves to {ip}, {why}; refused even if allow-listed")
            if not _is_global(ip) and how != "exact":
                raise OutboundRefused(
                    f"host {_normalise_host(host)!r} resolves to the non-public address {ip}; list the host exactly in outbound.allow_hosts to allow it"
                )

    async def resolve_and_check(self, host: str, port: int) -> list[IPAddress]:
        """Allow-list, resolve, classify. Returns the checked addresses in resolver order."""
        how = self.check_host(host)
        addresses = await resolve(host, port)
        self.check_addresses(host, addresses, how)
        return addresses

    async def check_url(self, url: httpx.URL) -> None:
        if url.scheme not in ("http", "https"):
            raise OutboundRefused(f"scheme {url.scheme!r} is not allowed (http and https only)")
        if not url.host:
            raise OutboundRefused("the URL has no host")
        if url.userinfo:
            raise OutboundRefused("URLs with credentials are not allowed")
        await self.resolve_and_check(url.host, url.port or (443 if url.scheme == "https" else 80))


async def resolve(host: str, port: int) -> list[IPAddress]:
    host = _normalise_host(host)
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise OutboundRefused(f"host {host!r} could not be resolved") from None
    out: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # Strip an IPv6 zone id ("fe80::1%eth0").
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connect only to addresses the policy accepts for the request's host."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            addresses = await self._policy.resolve_and_check(host, port)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go through ``_GuardedBackend``.
    Never uses proxies from the environment (a proxy would bypass the address check)."""

    def __init__(self, policy: OutboundPolicy, *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        ssl_context = _ssl_context()
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx builds its pool in __init__ without a way to pass a network backend; replace
        # it with an identical pool that connects through the guard.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms; one context serves every HTTP tool. SSL_CERT_FILE /
    # SSL_CERT_DIR are still honoured (only proxies from the environment are ignored).
    return httpx.create_ssl_context()
