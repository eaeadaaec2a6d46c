"""What the lab's network does to each endpoint set: the addresses its DNS hands out, and why.

Every name of the catalogue resolves (wildcards too: any name under a wildcard domain); which loopback
address it gets decides how its endpoints behave. Other names do not exist (NXDOMAIN). The zone of each
wildcard answers SOA and NS, and the zone check's random names below it do not exist, as on the Internet: the
wildcards without a representative host (`*.dm.microsoft.com`, ...) pass their zone check (protocol `dns`).
A set broken by NXDOMAIN has its wildcards' zones NXDOMAIN too.

    address     role         on the lab's HTTPS and HTTP ports
    127.0.0.1   HEALTHY      TLS with a leaf from the lab CA (the exporter's tls.ca_file), HTTP
    127.0.0.2   REFUSED      ports bound but not listening: TCP RST
    127.0.0.4   UNTRUSTED    TLS with a leaf from a CA nobody trusts (an SSL-inspecting firewall), HTTP
    127.0.0.5   TARPIT       accepts connections, never answers
    127.0.0.7   INSPECTED    TLS with a leaf from the organisation's inspection CA, which devices trust
                             (tls.inspection_ca_file); only with --intercept
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from exporter.catalogue import Catalogue
from exporter.catalogue.model import EndpointSet

HEALTHY = "127.0.0.1"
REFUSED = "127.0.0.2"
UNTRUSTED = "127.0.0.4"
TARPIT = "127.0.0.5"
INSPECTED = "127.0.0.7"
NTP_PORT = 123


class Fault(enum.Enum):
    NXDOMAIN = "nxdomain"
    REFUSED = "refused"
    UNTRUSTED = "untrusted"
    TARPIT = "tarpit"


FAULT_ADDRESSES = {Fault.REFUSED: REFUSED, Fault.UNTRUSTED: UNTRUSTED, Fault.TARPIT: TARPIT}


@dataclass(frozen=True)
class Breakage:
    set_id: str
    fault: Fault
    reason: str
    """The failure reason the exporter reports for the set's endpoints."""
    how: str


BREAKAGES = (
    Breakage(
        "150", Fault.NXDOMAIN, "dns_nxdomain", "its names do not resolve (NXDOMAIN), as behind a DNS filter"
    ),
    Breakage("win32-cache", Fault.REFUSED, "connect_refused", "a firewall rejects its connections (TCP RST)"),
    Breakage(
        "173",
        Fault.UNTRUSTED,
        "tls_untrusted",
        "an SSL-inspecting firewall presents certificates from a CA the devices do not trust",
    ),
    Breakage("182", Fault.TARPIT, "tls_timeout", "a tarpit accepts its connections and never answers"),
)
"""Sets broken on purpose: two optional sets, then two required ones, one fault each. Every built-in edition
has them with the same ports and no flag that would change the reason, so the lab fails the same way
whichever edition it simulates (173 is TLS-only and allows inspection: an untrusted inspecting CA is
`tls_untrusted`)."""


@dataclass(frozen=True)
class Zone:
    records: dict[str, list[str]]
    """Name or `*.domain` -> IPv4 addresses."""
    nxdomain: frozenset[str]
    zones: frozenset[str] = frozenset()
    """The wildcards' zones (`*.` removed): answered SOA and NS."""


def set_names(catalogue: Catalogue, endpoint_set: EndpointSet) -> set[str]:
    """The set's names, lower-case: its hosts, its wildcards and their representative hosts."""
    names = {url.lower() for url in endpoint_set.urls}
    for url in endpoint_set.urls:
        names |= {host.lower() for host in catalogue.wildcard_representatives.get(url, ())}
    return names


def catalogue_names(catalogue: Catalogue) -> list[str]:
    """Every name of the catalogue: the names the lab's leaf certificates cover."""
    return sorted(set().union(*(set_names(catalogue, s) for s in catalogue.sets)))


def build_zone(catalogue: Catalogue, *, broken: bool, intercept: bool) -> Zone:
    """Healthy (or, with `intercept`, inspected) answers for every set; NTP hosts always healthy; the
    names of the `BREAKAGES` sets answered by their fault when `broken`."""
    records: dict[str, list[str]] = {}
    for endpoint_set in catalogue.sets:
        address = HEALTHY if not intercept or NTP_PORT in endpoint_set.udp_ports else INSPECTED
        for name in set_names(catalogue, endpoint_set):
            records.setdefault(name, [address])
    nxdomain: set[str] = set()
    sets = {endpoint_set.id: endpoint_set for endpoint_set in catalogue.sets}
    for breakage in BREAKAGES if broken else ():
        names = set_names(catalogue, sets[breakage.set_id])
        if breakage.fault is Fault.NXDOMAIN:
            nxdomain |= names | {name.removeprefix("*.") for name in names if name.startswith("*.")}
            continue
        for name in names:
            records[name] = [FAULT_ADDRESSES[breakage.fault]]
    zones = frozenset(name.removeprefix("*.") for name in records if name.startswith("*."))
    return Zone(
        records={n: a for n, a in records.items() if n not in nxdomain},
        nxdomain=frozenset(nxdomain),
        zones=zones - nxdomain,
    )
