"""Everything a probe needs besides its target: timeouts, trust store, resolver, port remapping."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

import dns.asyncresolver

from exporter.probes.result import Phase


@dataclass(frozen=True)
class ProbeSettings:
    timeouts: dict[Phase, float]
    """Seconds allowed for each phase."""
    trust: ssl.SSLContext
    """Verifying client context: public roots (certifi) unless the configuration names a CA bundle."""
    resolver: dns.asyncresolver.Resolver
    port_remap: dict[int, int] = field(default_factory=dict)
    """Catalogue port -> port actually dialled. For labs and tests; labels keep the catalogue port."""
    http_path: str = "/"
    user_agent: str = "intune-endpoint-exporter"

    def dial_port(self, port: int) -> int:
        return self.port_remap.get(port, port)
