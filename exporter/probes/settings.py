"""Everything a probe needs besides its target: timeouts, trust store, resolver, port remapping."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

import dns.asyncresolver

from exporter.probes.outcome import Phase


@dataclass(frozen=True)
class ProxyRoute:
    """An HTTP proxy to reach targets through. `credentials` ("user:password") never appear in text."""

    host: str
    port: int
    credentials: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """For logs, errors and labels: the proxy's address, never its credentials."""
        return f"{self.host}:{self.port}"

    def anonymous(self) -> ProxyRoute:
        return ProxyRoute(self.host, self.port)


@dataclass(frozen=True)
class ProbeSettings:
    timeouts: dict[Phase, float]
    """Seconds allowed for each phase."""
    trust: ssl.SSLContext
    """Verifying client context: public roots (certifi) unless the configuration names a CA bundle."""
    resolver: dns.asyncresolver.Resolver
    port_remap: dict[int, int] = field(default_factory=dict)
    address_families: tuple[int, ...] = (4, 6)
    """IP versions resolved and probed (`dns.families`): 4 asks A, 6 asks AAAA."""
    max_addresses_per_family: int = 4
    """Addresses kept per family from an answer, in resolver order (`dns.max_addresses_per_family`)."""
    """Catalogue port -> port actually dialled. For labs and tests; labels keep the catalogue port."""
    http_path: str = "/"
    user_agent: str = "intune-endpoint-exporter"
    range_path: str = "/"
    """Path of the byte-range check."""
    routes: dict[str, ProxyRoute] = field(default_factory=dict)
    """Proxies by 'host:port', as targets name them in `via`."""
    proxy: ProxyRoute | None = None
    """Set for probes that go through an HTTP proxy (CONNECT for TCP and TLS); None for direct probes."""
    inspection_trust: ssl.SSLContext | None = None
    """Public roots plus the organisation's TLS-inspection CA(s), when configured: a chain that verifies only
    here is intercepted, but devices trusting that CA still work (where inspection is supported)."""
    inspection_issuers: tuple[str, ...] = ()
    """Issuer CN or organisation substrings (lower-case) that mark a certificate as an inspection proxy's."""
    public_issuers: tuple[str, ...] = ()
    """Issuer CN or organisation substrings (lower-case) known to be public CAs: never called intercepted."""

    @property
    def has_proxy_credentials(self) -> bool:
        return any(route.credentials for route in self.routes.values())

    def dial_port(self, port: int) -> int:
        return self.port_remap.get(port, port)
