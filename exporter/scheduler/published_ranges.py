"""For sets with published CIDRs (163): would an IP-allowlist firewall let every address a host resolves
to through? Checked on each lookup of the cycle; the answer is kept in the `ResultStore`."""

from __future__ import annotations

import ipaddress
import logging

from exporter.plan.targets import NetworkPath, TargetPlan
from exporter.probes.outcome import ProbeOutcome
from exporter.results.store import ResultStore

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PublishedRanges:
    """The published ranges of a plan's sets, indexed by the hosts probed directly for them."""

    def __init__(self, plan: TargetPlan, store: ResultStore) -> None:
        self._store = store
        self._ranges: dict[str, list[Network]] = {
            s.id: [ipaddress.ip_network(cidr) for cidr in s.ips] for s in plan.sets if s.ips
        }
        self._sets_by_host: dict[str, set[str]] = {}
        for target, members in plan.targets.items():
            if target.path is NetworkPath.DIRECT:
                for member in members:
                    if member.set_id in self._ranges:
                        self._sets_by_host.setdefault(target.host, set()).add(member.set_id)

    def check(self, host: str, lookup: ProbeOutcome) -> None:
        """Record, per set of `host`, the resolved addresses outside the set's ranges; log new ones."""
        if not lookup.ok:
            return
        for set_id in sorted(self._sets_by_host.get(host, ())):
            outside = tuple(
                address
                for address in lookup.addresses
                if not any(ipaddress.ip_address(address) in net for net in self._ranges[set_id])
            )
            previous = self._store.put_range_check(set_id, host, outside)
            if outside and previous != outside:
                log.warning(
                    "%s resolves to %s, outside set %s's published ranges: an IP allowlist would block it",
                    host,
                    ", ".join(outside),
                    set_id,
                )
