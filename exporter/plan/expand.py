"""Expand the catalogue, as the configuration selects it, into concrete probe targets.

A wildcard cannot be probed as written. It is probed through representative concrete hosts: hosts of the
same set that it matches, else the configuration's `wildcard_representatives`, else the catalogue's default
table. A wildcard with none gets a zone check instead (protocol `dns`, host the zone, port 53: see
`probes/dns_zone.py`) and is recorded in `unprobed_wildcards`, meaning "no representative host, only a
DNS-level check"; never dropped silently. A host/port listed by several sets becomes one target that reports
under each of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from exporter.catalogue import Catalogue, EndpointSet, entry_flags, wildcard_matches
from exporter.config.file import Config
from exporter.plan.selection import selected_sets
from exporter.plan.targets import ExtraHost, Membership, Target, TargetPlan, Unprobeable
from exporter.probes import dns_zone
from exporter.probes.prober import Protocol

TCP_PORT_PROTOCOLS = {80: Protocol.HTTP, 443: Protocol.HTTPS, 5223: Protocol.TLS}
UDP_PORT_PROTOCOLS = {123: Protocol.NTP}


def with_extra_hosts(plan: TargetPlan, extras: Iterable[ExtraHost]) -> TargetPlan:
    """`plan` plus targets for `extras`; a set the plan lacks is added as a section 'Drift' set."""
    sets = list(plan.sets)
    known = {endpoint_set.id for endpoint_set in sets}
    targets = {target: list(members) for target, members in plan.targets.items()}
    unprobeable = list(plan.unprobeable_ports)
    for extra in extras:
        set_id = extra.set_id.lower()
        ports = EndpointSet(
            id=set_id,
            name=f"Set {set_id} (listed only by {extra.origin})",
            section="Drift",
            tcp_ports=tuple(sorted(extra.tcp_ports)),
            udp_ports=tuple(sorted(extra.udp_ports)),
        )
        if set_id not in known:
            known.add(set_id)
            sets.append(ports)
        scratch = TargetPlan(sets=[])
        for target in _targets_for(extra.host.lower(), ports, extra.host, scratch):
            members = targets.setdefault(target, [])
            if not any(m.set_id == set_id for m in members):
                members.append(Membership(set_id, extra.host, frozenset(), extra.origin))
        unprobeable.extend(scratch.unprobeable_ports)
    return TargetPlan(
        sets=sets,
        targets=dict(sorted(targets.items())),
        unprobed_wildcards=dict(plan.unprobed_wildcards),
        unprobeable_ports=unprobeable,
    )


def representatives(
    wildcard: str, endpoint_set: EndpointSet, config: Config, catalogue: Catalogue
) -> tuple[str, ...]:
    if wildcard in config.wildcard_representatives:
        return config.wildcard_representatives[wildcard]
    own = tuple(u for u in endpoint_set.urls if not u.startswith("*.") and wildcard_matches(wildcard, u))
    if own:
        return own
    return catalogue.wildcard_representatives.get(wildcard, ())


def build_plan(config: Config, catalogue: Catalogue) -> TargetPlan:
    sets = selected_sets(config, catalogue)
    plan = TargetPlan(sets=sets)
    memberships: dict[Target, dict[tuple[str, str], Membership]] = defaultdict(dict)
    for endpoint_set in sets:
        unprobed: list[str] = []
        for entry in endpoint_set.urls:
            flags = entry_flags(catalogue, endpoint_set, entry)
            hosts: tuple[str, ...] = (entry,)
            if entry.startswith("*."):
                hosts = representatives(entry, endpoint_set, config, catalogue)
                if not hosts:
                    unprobed.append(entry)
                    zone = zone_target(entry)
                    memberships[zone].setdefault(
                        (endpoint_set.id, entry), Membership(endpoint_set.id, entry, flags)
                    )
                    continue
            for host in hosts:
                for target in _targets_for(host.lower(), endpoint_set, entry, plan):
                    key = (endpoint_set.id, host.lower())
                    memberships[target].setdefault(key, Membership(endpoint_set.id, entry, flags))
        plan.unprobed_wildcards[endpoint_set.id] = unprobed
    plan.targets = {target: list(members.values()) for target, members in sorted(memberships.items())}
    return plan


def zone_target(wildcard: str) -> Target:
    """The zone check standing for `wildcard` ('*.zone'), which has no representative host."""
    return Target(wildcard.removeprefix("*.").lower(), dns_zone.PORT, Protocol.DNS)


def _targets_for(host: str, endpoint_set: EndpointSet, entry: str, plan: TargetPlan) -> list[Target]:
    targets = [
        Target(host, port, TCP_PORT_PROTOCOLS.get(port, Protocol.TCP)) for port in endpoint_set.tcp_ports
    ]
    for port in endpoint_set.udp_ports:
        protocol = UDP_PORT_PROTOCOLS.get(port)
        if protocol is None:
            plan.unprobeable_ports.append(Unprobeable(endpoint_set.id, entry, port, "udp"))
        else:
            targets.append(Target(host, port, protocol))
    return targets
