"""The names and address ranges a proxy or firewall must let through for a list of endpoint sets.

Only sets with TCP ports count: proxies carry HTTP and HTTPS (CONNECT), not NTP or peer traffic over UDP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.catalogue.model import EndpointSet

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allowlist:
    domains: tuple[str, ...]
    """Names whose subdomains are all allowed ('manage.microsoft.com' for '*.manage.microsoft.com'),
    none below another."""
    hosts: tuple[str, ...]
    """Exact names not already below one of `domains`."""


def proxied_sets(sets: Iterable[EndpointSet]) -> list[EndpointSet]:
    return [s for s in sets if s.tcp_ports]


def allowlist(sets: Iterable[EndpointSet], *, domain_covers_apex: bool) -> Allowlist:
    """The sets' host entries, lower-cased and deduplicated: wildcards become domains, and a domain or host
    below another domain is dropped. `domain_covers_apex`: whether a domain also matches its own name (as
    a squid '.example.com' does; a PAC '*.example.com' rule does not)."""
    entries = {url.lower() for s in proxied_sets(sets) for url in s.urls}
    wildcards = {entry[2:] for entry in entries if entry.startswith("*.")}
    domains = {d for d in wildcards if not any(_below(d, other) for other in wildcards)}
    hosts = {
        entry
        for entry in entries
        if not entry.startswith("*.")
        and not any(_below(entry, d) or (domain_covers_apex and entry == d) for d in domains)
    }
    return Allowlist(tuple(sorted(domains, key=_by_label)), tuple(sorted(hosts, key=_by_label)))


def networks(sets: Iterable[EndpointSet]) -> list[IpNetwork]:
    """The sets' CIDR ranges, overlapping and adjacent ranges merged; IPv4 first."""
    parsed = [ipaddress.ip_network(cidr) for s in proxied_sets(sets) for cidr in s.ips]
    v4 = [n for n in parsed if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in parsed if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _below(name: str, domain: str) -> bool:
    return name.endswith("." + domain)


def _by_label(name: str) -> list[str]:
    """Sort key grouping names by domain: 'a.manage.microsoft.com' -> ['com', 'microsoft', 'manage', 'a']."""
    return name.split(".")[::-1]
