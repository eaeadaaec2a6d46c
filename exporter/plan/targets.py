"""Expand the catalogue, as the configuration selects it, into concrete probe targets.

A wildcard cannot be probed as written. It is probed through representative concrete hosts: hosts of the
same set that it matches, else the configuration's `wildcard_representatives`, else the catalogue's default
table. A wildcard with none is recorded as unprobed, never dropped silently. A host/port listed by several
sets becomes one target that reports under each of them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.catalogue import Catalogue, EndpointSet, Flag, entry_flags, wildcard_matches
from exporter.catalogue.model import Category
from exporter.config.file import Config, asu_sets_for


class Protocol(StrEnum):
    TCP = "tcp"
    TLS = "tls"
    HTTP = "http"
    HTTPS = "https"
    NTP = "ntp"


TCP_PORT_PROTOCOLS = {80: Protocol.HTTP, 443: Protocol.HTTPS, 5223: Protocol.TLS}
UDP_PORT_PROTOCOLS = {123: Protocol.NTP}


class Path(StrEnum):
    """How a target is reached; the `path` label."""

    DIRECT = "direct"
    PROXY = "proxy"
    PROXY_ANONYMOUS = "proxy_anonymous"
    """Through the proxy without credentials: do the hosts the page names get unauthenticated access?"""


@dataclass(frozen=True, order=True)
class Target:
    host: str
    port: int
    protocol: Protocol
    path: Path = Path.DIRECT
    via: str = ""
    """The proxy ('host:port') for proxied paths; '' when direct."""
    _hash: int = field(init=False, repr=False, compare=False)
    """Targets key every per-target table (results, plans, metric rows): hash once, not per lookup."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.host, self.port, self.protocol, self.path, self.via)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True)
class Membership:
    """Why a target is probed for a set: the catalogue entry it stands for and that entry's flags."""

    set_id: str
    entry: str
    flags: frozenset[Flag]
    origin: str = ""
    """'' for the catalogue; the reference source's name for a host only a reference lists."""


@dataclass(frozen=True)
class Unprobeable:
    set_id: str
    entry: str
    port: int
    transport: str


@dataclass
class TargetPlan:
    sets: list[EndpointSet]
    targets: dict[Target, list[Membership]] = field(default_factory=dict)
    unprobed_wildcards: dict[str, list[str]] = field(default_factory=dict)
    unprobeable_ports: list[Unprobeable] = field(default_factory=list)

    def flags_of(self, target: Target) -> frozenset[Flag]:
        """Flags of every catalogue entry the target stands for, in any set."""
        return frozenset().union(*(member.flags for member in self.targets.get(target, ())))

    def targets_of(self, set_id: str) -> list[Target]:
        return [t for t, members in self.targets.items() if any(m.set_id == set_id for m in members)]

    @property
    def hosts(self) -> list[str]:
        return sorted({target.host for target in self.targets})


class PlanHolder:
    """The plan in force. Swapped whole when drift adds hosts; readers take `current` once per use."""

    def __init__(self, plan: TargetPlan) -> None:
        self._plan = plan
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> TargetPlan:
        with self._lock:
            return self._plan

    @property
    def generation(self) -> int:
        """Counts replacements, so the probe loop can notice a new plan between cycles."""
        with self._lock:
            return self._generation

    def replace(self, plan: TargetPlan) -> None:
        with self._lock:
            if plan != self._plan:
                self._plan = plan
                self._generation += 1


@dataclass(frozen=True)
class ExtraHost:
    """A concrete host a reference list adds to a set, to be probed on the reference's ports."""

    set_id: str
    host: str
    tcp_ports: frozenset[int]
    udp_ports: frozenset[int]
    origin: str


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


def selected_sets(config: Config, catalogue: Catalogue) -> list[EndpointSet]:
    """The catalogue's sets after cloud, tenant location, section and set switches, plus extra endpoints."""
    sets = _with_extra_endpoints(config, catalogue)
    asu_keep = set(asu_sets_for(catalogue, config.tenant_location)) if config.tenant_location else None
    chosen = []
    for endpoint_set in sets:
        on = endpoint_set.enabled_by_default or endpoint_set.id in config.sets.enabled
        if config.sets.only:
            on = endpoint_set.id in config.sets.only
        if endpoint_set.id in config.sets.disabled or endpoint_set.section in config.sections.disabled:
            on = False
        if config.cloud not in endpoint_set.clouds:
            on = False
        if asu_keep is not None and endpoint_set.scale_units and endpoint_set.id not in asu_keep:
            on = False
        if on:
            chosen.append(endpoint_set)
    return chosen


def _with_extra_endpoints(config: Config, catalogue: Catalogue) -> list[EndpointSet]:
    by_id = catalogue.by_id()
    order = [endpoint_set.id for endpoint_set in catalogue.sets]
    for extra in config.extra_endpoints:
        existing = by_id.get(extra.set_id)
        if existing is None:
            by_id[extra.set_id] = EndpointSet(
                id=extra.set_id,
                name=extra.name or f"Extra endpoints {extra.set_id}",
                section=extra.section,
                category=Category.DEFAULT,
                required=extra.required,
                urls=extra.hosts,
                tcp_ports=extra.tcp_ports,
                udp_ports=extra.udp_ports,
                annotations=("Added by the configuration's extra_endpoints.",),
            )
            order.append(extra.set_id)
        else:
            by_id[extra.set_id] = existing.model_copy(
                update={
                    "urls": existing.urls + tuple(h for h in extra.hosts if h not in existing.urls),
                    "tcp_ports": existing.tcp_ports
                    + tuple(p for p in extra.tcp_ports if p not in existing.tcp_ports),
                    "udp_ports": existing.udp_ports
                    + tuple(p for p in extra.udp_ports if p not in existing.udp_ports),
                }
            )
    return [by_id[set_id] for set_id in order]


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
                    continue
            for host in hosts:
                for target in _targets_for(host.lower(), endpoint_set, entry, plan):
                    key = (endpoint_set.id, host.lower())
                    memberships[target].setdefault(key, Membership(endpoint_set.id, entry, flags))
        plan.unprobed_wildcards[endpoint_set.id] = unprobed
    plan.targets = {target: list(members.values()) for target, members in sorted(memberships.items())}
    return plan


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
