"""Points an exporter configuration at the fault servers and a faulty DNS: the lab's own
(exporter/lab/fault_config.py), shared with bench/soak.py. See there for `DNS_FAULTS` and the ports."""

from __future__ import annotations

from exporter.lab.fault_config import (
    DNS_FAULTS,
    PROTOCOL_PORTS,
    arrange_dns,
    dns_host,
    write_catalogue,
    write_config,
)

__all__ = ["DNS_FAULTS", "PROTOCOL_PORTS", "arrange_dns", "dns_host", "write_catalogue", "write_config"]
