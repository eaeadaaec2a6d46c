"""Points an exporter configuration at the fault servers (exporter.lab.faults) and a faulty DNS.

A catalogue file lists each fault host on the catalogue port of the protocol it is probed with; the DNS
simulator resolves every fault host to its fault's address and misbehaves on purpose for the `DNS_FAULTS`
names. Only configuration aims the exporter there: `dns.nameservers`/`dns.port`, `port_remap` and
`tls.ca_file`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from exporter.lab.dns import DNSServer
from exporter.lab.faults import FAULT_DOMAIN, Fault, FaultLab

PROTOCOL_PORTS = {"tcp": 8443, "tls": 5223, "http": 80, "https": 443}
"""The catalogue port probed with each protocol (8443 is no known port: a plain TCP connect)."""

DNS_FAULTS = {
    "dns-timeout": "drop",
    "dns-garbage": "garbage",
    "dns-wrong-id": "wrong_id",
    "dns-truncated": "truncated",
    "dns-servfail": "servfail",
    "dns-refused": "refused",
    "dns-nxdomain": "nxdomain",
    "dns-nodata": "no_answer",
}
"""Host label -> the DNSServer rule set that name is put in."""


def dns_host(label: str) -> str:
    return f"{label}.{FAULT_DOMAIN}"


def arrange_dns(dns_server: DNSServer) -> None:
    """Fault hosts resolve to their fault's address; the `DNS_FAULTS` names misbehave."""
    dns_server.records.update({fault.host: [fault.address] for fault in Fault})
    for label, rule in DNS_FAULTS.items():
        getattr(dns_server, rule).add(dns_host(label))


def write_catalogue(path: Path, targets: Iterable[tuple[str, str]]) -> Path:
    """One set per protocol, holding the hosts of the (host, protocol) pairs."""
    by_protocol: dict[str, list[str]] = {}
    for host, protocol in targets:
        by_protocol.setdefault(protocol, []).append(host)
    sets = [
        {
            "id": f"fault-{protocol}",
            "name": f"Fault corpus over {protocol}",
            "section": "Faults",
            "urls": sorted(set(hosts)),
            "tcp_ports": [PROTOCOL_PORTS[protocol]],
        }
        for protocol, hosts in sorted(by_protocol.items())
    ]
    path.write_text(yaml.safe_dump({"sets": sets}))
    return path


def write_config(
    path: Path,
    catalogue: Path,
    dns_port: int,
    lab: FaultLab,
    ca_file: Path,
    **extra: object,
) -> Path:
    config = {
        "interval": "1h",
        "jitter": "0s",
        "timeout": "1s",
        "catalogue_files": [str(catalogue)],
        "sets": {"only": sorted(s["id"] for s in yaml.safe_load(catalogue.read_text())["sets"])},
        "dns": {"nameservers": ["127.0.0.1"], "port": dns_port},
        "tls": {"ca_file": str(ca_file)},
        "port_remap": lab.port_remap,
        "state_dir": str(path.parent / "state"),
        "drift": {"page": {"enabled": False}},
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path
