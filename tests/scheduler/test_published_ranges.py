"""Published ranges: every resolved address checked against every CIDR of the set, IPv4 and IPv6."""

from __future__ import annotations

from exporter.catalogue.model import EndpointSet
from exporter.plan.targets import Membership, NetworkPath, Target, TargetPlan
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.results.store import ResultStore
from exporter.scheduler.published_ranges import PublishedRanges

HOST = "ranged.example.test"
CIDRS = ("10.1.0.0/16", "10.2.0.0/16", "192.0.2.0/28", "2001:db8:1::/48", "2001:db8:2::/48")


def ranges(host: str = HOST, path: NetworkPath = NetworkPath.DIRECT) -> tuple[PublishedRanges, ResultStore]:
    sets = [
        EndpointSet(id="163", name="ranged", section="Test", urls=(host,), ips=CIDRS, tcp_ports=(443,)),
        EndpointSet(id="900", name="plain", section="Test", urls=(host,), tcp_ports=(443,)),
    ]
    via = "proxy:3128" if path is not NetworkPath.DIRECT else ""
    target = Target(host, 443, Protocol.TCP, path, via)
    plan = TargetPlan(
        sets, {target: [Membership("163", host, frozenset()), Membership("900", host, frozenset())]}
    )
    store = ResultStore()
    return PublishedRanges(plan, store), store


def resolved(*addresses: str) -> ProbeOutcome:
    return ProbeOutcome(ok=True, addresses=addresses)


def test_every_address_inside_one_of_several_cidrs_passes() -> None:
    checker, store = ranges()

    checker.check(HOST, resolved("10.2.3.4", "192.0.2.15", "10.1.0.1", "2001:db8:2::5", "2001:db8:1:ffff::1"))

    assert store.range_checks() == {("163", HOST): ()}


def test_addresses_outside_every_cidr_are_named_whatever_their_position() -> None:
    checker, store = ranges()

    # The first address and the first CIDR agree: checking only those would pass.
    checker.check(HOST, resolved("10.1.0.1", "10.3.0.1", "192.0.2.16", "2001:db8:3::1", "2001:db8:1::1"))

    assert store.range_checks() == {("163", HOST): ("10.3.0.1", "192.0.2.16", "2001:db8:3::1")}


def test_an_ipv4_address_never_matches_an_ipv6_cidr_nor_the_reverse() -> None:
    checker, store = ranges()

    checker.check(HOST, resolved("::ffff:10.1.0.1", "10.1.0.1"))

    assert store.range_checks() == {("163", HOST): ("::ffff:10.1.0.1",)}


def test_failed_lookups_and_proxied_hosts_record_nothing() -> None:
    checker, store = ranges()
    checker.check(HOST, ProbeOutcome.failure(Reason.DNS_NXDOMAIN, "gone"))
    assert store.range_checks() == {}

    proxied, proxied_store = ranges(path=NetworkPath.PROXY)
    proxied.check(HOST, resolved("10.9.9.9"))
    assert proxied_store.range_checks() == {}
