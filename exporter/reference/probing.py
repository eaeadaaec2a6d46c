"""What a reference list may add to the probe plan (`drift.probe_added`): bounded, because the list is remote.

The concrete hosts a reference adds to a set (`added` or `covered` urls; wildcards cannot be probed) are
probed on the ports their item lists, within caps (`Limits`), checked per item in the list's order:

1. an item listing more than `max_ports_per_item` tcp + udp ports is not probed at all;
2. nor is one whose added hosts x ports exceed `max_targets_per_item` (1,000 hosts on "1-1000" would be a
   million targets);
3. ports the catalogue itself never uses are dropped: a reference list cannot make the exporter scan ports;
4. items are taken until the list's targets would pass `max_extra_targets`; the rest are not probed.

Each refusal is one `InvalidEntry`, counted in intune_catalogue_reference_invalid_entries with the list's
other invalid entries. Drift itself is not affected: a refused item is still reported as drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exporter.catalogue.model import Catalogue
from exporter.config.drift import Limits
from exporter.reference.drift import Direction, DriftEntry, Kind
from exporter.reference.items import shorten
from exporter.reference.types import InvalidEntry, ReferenceItem

__all__ = ["AddedHost", "catalogue_ports", "probe_plan"]


@dataclass(frozen=True)
class AddedHost:
    """A concrete host a reference adds to a set, to be probed on these ports."""

    set_id: str
    host: str
    tcp_ports: frozenset[int]
    udp_ports: frozenset[int]

    @property
    def targets(self) -> int:
        return len(self.tcp_ports) + len(self.udp_ports)


def catalogue_ports(catalogue: Catalogue) -> tuple[frozenset[int], frozenset[int]]:
    """The tcp ports and the udp ports any set of the catalogue lists."""
    tcp = frozenset(port for endpoint_set in catalogue.sets for port in endpoint_set.tcp_ports)
    udp = frozenset(port for endpoint_set in catalogue.sets for port in endpoint_set.udp_ports)
    return tcp, udp


def _added_hosts(drift: Iterable[DriftEntry]) -> dict[str, list[str]]:
    hosts: dict[str, list[str]] = {}
    for entry in drift:
        if entry.kind is not Kind.URL or entry.direction not in (Direction.ADDED, Direction.COVERED):
            continue
        if entry.value.startswith("*."):
            continue
        hosts.setdefault(entry.set_id, []).append(entry.value)
    return hosts


def probe_plan(
    items: Sequence[ReferenceItem],
    drift: Iterable[DriftEntry],
    limits: Limits,
    ports: tuple[frozenset[int], frozenset[int]],
) -> tuple[tuple[AddedHost, ...], tuple[InvalidEntry, ...]]:
    """The hosts to probe for what `drift` adds from `items`, within `limits` (see the module docstring), and
    the refusals. `ports`: the tcp and udp ports of the catalogue (`catalogue_ports`)."""
    by_set = _added_hosts(drift)
    known_tcp, known_udp = ports
    planned: list[AddedHost] = []
    refused: list[InvalidEntry] = []
    total = 0
    for item in items:
        hosts = by_set.get(item.id)
        if not hosts:
            continue
        listed = len(item.tcp_ports) + len(item.udp_ports)
        if listed > limits.max_ports_per_item:
            problem = f"more than {limits.max_ports_per_item} ports; its added hosts are not probed"
            refused.append(InvalidEntry(item.id, "ports", f"{listed} tcp and udp ports", problem))
            continue
        if len(hosts) * listed > limits.max_targets_per_item:
            problem = f"more than {limits.max_targets_per_item} targets; its added hosts are not probed"
            value = f"{len(hosts)} added hosts x {listed} ports"
            refused.append(InvalidEntry(item.id, "targets", value, problem))
            continue
        tcp, udp = item.tcp_ports & known_tcp, item.udp_ports & known_udp
        for field, foreign in (
            ("tcpPorts", item.tcp_ports - known_tcp),
            ("udpPorts", item.udp_ports - known_udp),
        ):
            if foreign:
                shown = shorten(",".join(str(port) for port in sorted(foreign)))
                refused.append(
                    InvalidEntry(item.id, field, shown, "ports the catalogue does not use; never probed")
                )
        targets = len(hosts) * (len(tcp) + len(udp))
        if not targets:
            continue
        if total + targets > limits.max_extra_targets:
            problem = f"the list's added hosts would pass {limits.max_extra_targets} targets; not probed"
            refused.append(InvalidEntry(item.id, "targets", f"{targets} targets", problem))
            continue
        total += targets
        planned.extend(AddedHost(item.id, host, tcp, udp) for host in hosts)
    return tuple(planned), tuple(refused)
