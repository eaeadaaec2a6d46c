"""What the exporter probes: targets (host, port, protocol, network path), why each is probed (its
memberships in endpoint sets), and the plan that holds them. `expand` builds a plan from the catalogue."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.catalogue import EndpointSet, Flag
from exporter.probes.prober import Protocol


class NetworkPath(StrEnum):
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
    path: NetworkPath = NetworkPath.DIRECT
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
